// JS graph description -> ec::Graph. The description is produced by
// src/ts/nn/graph.ts, which has already validated names, ranges and types;
// the reads here still check types so a hand-made object cannot crash us.
//
// desc = { nodes: [ {name, kind: 'input', shape?: number[]}
//                 | {name, kind: 'param', value: NativeTensor}
//                 | {name, kind: 'op', op: string, inputs: number[], attrs: {...}} ] }
#include <cmath>

#include "binding.h"

namespace ec::node {

namespace {

struct Reader {
  Napi::Object obj;
  std::string who;

  bool has(const char* k) const { return obj.Has(k) && !obj.Get(k).IsUndefined() && !obj.Get(k).IsNull(); }

  double number(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    Napi::Value v = obj.Get(k);
    if (!v.IsNumber()) throw Napi::TypeError::New(obj.Env(), who + ": expected a number for " + k);
    const double x = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(x)) throw Napi::TypeError::New(obj.Env(), who + ": expected a number for " + k + " but received NaN");
    return x;
  }
  int integer(const char* k, int dflt) const {
    const double x = number(k, dflt);
    if (x != std::floor(x) || std::fabs(x) > 1e9)
      throw Napi::TypeError::New(obj.Env(), who + ": expected an integer for " + k);
    return static_cast<int>(x);
  }
  bool boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    return obj.Get(k).ToBoolean().Value();
  }
  std::string string(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    Napi::Value v = obj.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(obj.Env(), who + ": expected a string for " + k);
    return v.As<Napi::String>().Utf8Value();
  }
  std::vector<int64_t> ints(const char* k) const {
    if (!has(k)) return {};
    return shape_from_js(obj.Get(k), who + " " + k);
  }
  // A pair [a, b] (or a single number used twice).
  void pair(const char* k, int& a, int& b) const {
    if (!has(k)) return;
    if (obj.Get(k).IsNumber()) {
      a = b = integer(k, a);
      return;
    }
    auto v = ints(k);
    if (v.size() != 2) throw Napi::TypeError::New(obj.Env(), who + ": expected 2 values for " + k);
    a = static_cast<int>(v[0]);
    b = static_cast<int>(v[1]);
  }
};

Window2d read_window(const Reader& r) {
  Window2d w;
  r.pair("kernel", w.kernel_h, w.kernel_w);
  r.pair("strides", w.stride_h, w.stride_w);
  r.pair("dilations", w.dilation_h, w.dilation_w);
  if (r.has("pads")) {  // ONNX order: [top, left, bottom, right]
    auto p = r.ints("pads");
    if (p.size() != 4) throw Napi::TypeError::New(r.obj.Env(), r.who + ": expected 4 values for pads");
    w.pad_top = static_cast<int>(p[0]);
    w.pad_left = static_cast<int>(p[1]);
    w.pad_bottom = static_cast<int>(p[2]);
    w.pad_right = static_cast<int>(p[3]);
  }
  const std::string mode = r.string("padMode", "explicit");
  if (mode == "explicit") w.pad_mode = PadMode::Explicit;
  else if (mode == "valid") w.pad_mode = PadMode::Valid;
  else if (mode == "same_upper" || mode == "same") w.pad_mode = PadMode::SameUpper;
  else if (mode == "same_lower") w.pad_mode = PadMode::SameLower;
  else throw Napi::TypeError::New(r.obj.Env(), r.who + ": unknown padMode '" + mode + "'");
  w.ceil_mode = r.boolean("ceilMode", false);
  return w;
}

Attrs read_attrs(Op op, const Reader& r) {
  switch (op) {
    case Op::Conv2d: {
      Conv2dAttrs a;
      a.win = read_window(r);
      a.groups = r.integer("groups", 1);
      return a;
    }
    case Op::Dense: return DenseAttrs{};
    case Op::Clip: return ClipAttrs{static_cast<float>(r.number("min", 0)), static_cast<float>(r.number("max", 6))};
    case Op::LeakyRelu: return LeakyReluAttrs{static_cast<float>(r.number("alpha", 0.01))};
    case Op::MaxPool:
    case Op::AvgPool: {
      PoolAttrs a;
      a.win = read_window(r);
      a.count_include_pad = r.boolean("countIncludePad", false);
      return a;
    }
    case Op::Concat:
    case Op::Softmax:
    case Op::LogSoftmax: return AxisAttrs{r.integer("axis", -1)};
    case Op::Lrn:
      return LrnAttrs{r.integer("size", 5), static_cast<float>(r.number("alpha", 1e-4)),
                      static_cast<float>(r.number("beta", 0.75)), static_cast<float>(r.number("bias", 1))};
    case Op::BatchNorm: return BatchNormAttrs{static_cast<float>(r.number("epsilon", 1e-5))};
    case Op::Reshape: return ReshapeAttrs{r.ints("shape")};
    case Op::Flatten: return FlattenAttrs{r.integer("axis", 1)};
    case Op::Pad: {
      PadAttrs a;
      const std::string mode = r.string("mode", "constant");
      if (mode == "constant") a.kind = PadKind::Constant;
      else if (mode == "reflect") a.kind = PadKind::Reflect;
      else if (mode == "edge") a.kind = PadKind::Edge;
      else throw Napi::TypeError::New(r.obj.Env(), r.who + ": unknown pad mode '" + mode + "'");
      a.value = static_cast<float>(r.number("value", 0));
      a.pads = r.ints("pads");
      return a;
    }
    case Op::ResizeBilinear: {
      ResizeAttrs a;
      a.out_h = r.integer("height", 1);
      a.out_w = r.integer("width", 1);
      const std::string c = r.string("coord", "half_pixel");
      if (c == "half_pixel") a.coord = ResizeCoord::HalfPixel;
      else if (c == "align_corners") a.coord = ResizeCoord::AlignCorners;
      else if (c == "asymmetric") a.coord = ResizeCoord::Asymmetric;
      else throw Napi::TypeError::New(r.obj.Env(), r.who + ": unknown coord '" + c + "'");
      return a;
    }
    case Op::Transpose: {
      TransposeAttrs a;
      for (int64_t v : r.ints("perm")) a.perm.push_back(static_cast<int>(v));
      return a;
    }
    default: return NoAttrs{};
  }
}

}  // namespace

Graph graph_from_js(const Napi::Object& desc) {
  Napi::Env env = desc.Env();
  if (!desc.Has("nodes") || !desc.Get("nodes").IsArray())
    throw Napi::TypeError::New(env, "program: expected a graph with a nodes array");
  Napi::Array nodes = desc.Get("nodes").As<Napi::Array>();
  Graph g;
  for (uint32_t i = 0; i < nodes.Length(); ++i) {
    if (!nodes.Get(i).IsObject()) throw Napi::TypeError::New(env, "program: node " + std::to_string(i) + " is not an object");
    Reader r{nodes.Get(i).As<Napi::Object>(), "node " + std::to_string(i)};
    GraphNode node;
    node.name = r.string("name", "");
    r.who = "node '" + node.name + "'";
    const std::string kind = r.string("kind", "op");
    if (kind == "input") {
      node.kind = GraphNode::Kind::Input;
      node.shape = r.ints("shape");
    } else if (kind == "param") {
      node.kind = GraphNode::Kind::Param;
      node.value = NativeTensor::Get(r.obj.Get("value"), r.who);
    } else if (kind == "op") {
      node.kind = GraphNode::Kind::Op;
      const std::string op = r.string("op", "");
      node.call.op = op_from_name(op);
      if (node.call.op == Op::COUNT) throw Napi::TypeError::New(env, r.who + ": unknown op '" + op + "'");
      for (int64_t k : r.ints("inputs")) node.inputs.push_back(static_cast<int>(k));
      Reader attrs{r.has("attrs") && r.obj.Get("attrs").IsObject() ? r.obj.Get("attrs").As<Napi::Object>()
                                                                    : Napi::Object::New(env),
                   std::string(op) + " (" + node.name + ")"};
      node.call.attrs = read_attrs(node.call.op, attrs);
    } else {
      throw Napi::TypeError::New(env, r.who + ": unknown node kind '" + kind + "'");
    }
    g.nodes.push_back(std::move(node));
  }
  return g;
}

}  // namespace ec::node
