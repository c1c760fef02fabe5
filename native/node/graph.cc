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
  Napi::TypeError error(const std::string& what) const { return Napi::TypeError::New(obj.Env(), who + ": " + what); }

  double number(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    Napi::Value v = obj.Get(k);
    if (!v.IsNumber()) throw error(std::string("expected a number for ") + k);
    const double x = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(x)) throw error(std::string("expected a number for ") + k + " but received NaN");
    return x;
  }
  int integer(const char* k, int dflt) const {
    const double x = number(k, dflt);
    if (x != std::floor(x) || std::fabs(x) > 1e9) throw error(std::string("expected an integer for ") + k);
    return static_cast<int>(x);
  }
  std::string string(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    Napi::Value v = obj.Get(k);
    if (!v.IsString()) throw error(std::string("expected a string for ") + k);
    return v.As<Napi::String>().Utf8Value();
  }
  std::vector<int64_t> ints(const char* k) const {
    if (!has(k)) return {};
    return shape_from_js(obj.Get(k), who + " " + k);
  }
};

// Fills an attribute struct from a JS object through its fields() list
// (ops.h); a key that is absent keeps the member's default.
struct AttrReader {
  const Reader& r;

  void integer(const char* k, int& v) { v = r.integer(k, v); }
  void number(const char* k, float& v) { v = static_cast<float>(r.number(k, v)); }
  void boolean(const char* k, bool& v) {
    if (r.has(k)) v = r.obj.Get(k).ToBoolean().Value();
  }
  // A pair [a, b], or a single number used twice.
  void pair(const char* k, int& a, int& b) {
    if (!r.has(k)) return;
    if (r.obj.Get(k).IsNumber()) {
      a = b = r.integer(k, a);
      return;
    }
    const auto v = r.ints(k);
    if (v.size() != 2) throw r.error(std::string("expected 2 values for ") + k);
    a = static_cast<int>(v[0]);
    b = static_cast<int>(v[1]);
  }
  void quad(const char* k, int& a, int& b, int& c, int& d) {
    if (!r.has(k)) return;
    const auto v = r.ints(k);
    if (v.size() != 4) throw r.error(std::string("expected 4 values for ") + k);
    a = static_cast<int>(v[0]), b = static_cast<int>(v[1]), c = static_cast<int>(v[2]), d = static_cast<int>(v[3]);
  }
  void ints(const char* k, std::vector<int64_t>& v) { v = r.ints(k); }
  void ints(const char* k, std::vector<int>& v) {
    v.clear();
    for (int64_t x : r.ints(k)) v.push_back(static_cast<int>(x));
  }
  template <class E, size_t N> void choice(const char* k, const char* label, E& e, const EnumName (&names)[N]) {
    if (!r.has(k)) return;
    const std::string s = r.string(k, "");
    for (const EnumName& n : names)
      if (s == n.name) {
        e = static_cast<E>(n.value);
        return;
      }
    throw r.error(std::string("unknown ") + label + " '" + s + "'");
  }
};

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
      node.call.attrs = default_attrs(node.call.op);
      AttrReader reader{attrs};
      visit_fields(node.call.attrs, reader);
    } else {
      throw Napi::TypeError::New(env, r.who + ": unknown node kind '" + kind + "'");
    }
    g.nodes.push_back(std::move(node));
  }
  return g;
}

}  // namespace ec::node
