// The op set (rows in op_table.h), the attribute structs and shape inference.
// Every backend, the binding and the tests switch over `Op`.
//
// Conventions (all ops):
// - float32, row-major; image tensors are NHWC [N,H,W,C].
// - conv2d filters are HWIO [KH,KW,Cin/groups,Cout]; dense weights are [In,Out].
// - Scalars (losses) have shape [] (one element).
// - Backward of an op receives the forward inputs, the forward output and dY,
//   and writes dX for each input whose gradient is asked for (others are null).
//   Written gradients overwrite; the Program sums over consumers.
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "op_table.h"
#include "tensor.h"

namespace ec {

// Op flags (the last column of EC_OPS in op_table.h).
enum OpFlag : unsigned { kPointwise = 1u, kSpatial = 2u, kWindow = 4u };

// What each op computes:
//   conv2d           x[N,H,W,Cin], w[KH,KW,Cin/g,Cout], b[Cout]? -> [N,OH,OW,Cout]
//   dense            x[...,In], w[In,Out], b[Out]? -> [...,Out]
//   relu             max(x,0); dx = dy where x>0
//   clip             min(max(x,lo),hi); relu6 = clip(0,6); dx = dy where lo<x<hi
//   leaky_relu       x>0 ? x : alpha*x
//   sigmoid, tanh    1/(1+exp(-x)), tanh(x)
//   max_pool         x[N,H,W,C] -> [N,OH,OW,C]; padded cells never win
//   avg_pool         x[N,H,W,C] -> [N,OH,OW,C]
//   global_*_pool    x[N,H,W,C] -> [N,1,1,C]
//   add, mul         numpy broadcast of a and b
//   concat           k inputs joined along `axis`
//   (log_)softmax    along `axis`
//   lrn              across channels (last axis), ONNX/Caffe semantics
//   batch_norm       x[...,C], scale[C], bias[C], mean[C], var[C] (inference)
//   reshape          same elements, new shape
//   flatten          [d0..dk-1, dk..] -> [prod(d0..dk-1), prod(dk..)]
//   pad              constant / reflect / edge, per-dimension before/after
//   resize_bilinear  x[N,H,W,C] -> [N,OH,OW,C]
//   gram             F[N,H,W,C] -> G[N,C,C] = F^T F / (H*W)
//   mse_loss         mean((a-b)^2) -> []
//   rms_loss         sqrt(mean((a-b)^2)) -> []
//   sum_squares      sum(x^2) -> []
//   transpose        y.shape[i] = x.shape[perm[i]] (NHWC <-> NCHW at model edges)
enum class Op : int {
#define EC_OP_ENUM(Enum, ...) Enum,
  EC_OPS(EC_OP_ENUM)
#undef EC_OP_ENUM
  COUNT
};
constexpr int kOpCount = static_cast<int>(Op::COUNT);

// Attribute structs list their fields once, in fields(v): for each, the JS
// key, the member and its kind (the member's initializer is the default). A
// visitor V provides
//   integer(key, int&)   number(key, float&)   boolean(key, bool&)
//   pair(key, int&, int&)            a number used twice, or [a, b]
//   quad(key, int&, int&, int&, int&) exactly four integers
//   ints(key, std::vector<int64_t>&) / ints(key, std::vector<int>&)
//   choice(key, label, E&, names)    one of the strings in names (EnumName rows)
// The binding reads JS attributes through it; opTable() lists the keys.
struct EnumName {
  const char* name;
  int value;
};

// How a conv or pool derives its padding from the input size.
enum class PadMode {
  Explicit,   // use pad_top/bottom/left/right as given
  Valid,      // no padding
  SameUpper,  // TF "SAME": out = ceil(in/stride); odd total padding goes to bottom/right
  SameLower,  // as SameUpper, odd total padding goes to top/left
};
inline constexpr EnumName kPadModeNames[] = {{"explicit", int(PadMode::Explicit)},
                                             {"valid", int(PadMode::Valid)},
                                             {"same_upper", int(PadMode::SameUpper)},
                                             {"same", int(PadMode::SameUpper)},
                                             {"same_lower", int(PadMode::SameLower)}};

struct Window2d {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  PadMode pad_mode = PadMode::Explicit;
  bool ceil_mode = false;  // pools only: output size rounds up

  template <class V> void fields(V& v) {
    v.pair("kernel", kernel_h, kernel_w);
    v.pair("strides", stride_h, stride_w);
    v.pair("dilations", dilation_h, dilation_w);
    v.quad("pads", pad_top, pad_left, pad_bottom, pad_right);  // ONNX order: [top, left, bottom, right]
    v.choice("padMode", "padMode", pad_mode, kPadModeNames);
    v.boolean("ceilMode", ceil_mode);
  }
};

struct NoAttrs {
  template <class V> void fields(V&) {}
};
// An activation applied to a conv's output as it is written. Graphs never ask
// for it: for an inference pass the Program hands one to Backend::conv2d_fused
// when a conv's only reader is a relu or clip, so the activation costs no
// extra pass over memory.
struct Epilogue {
  enum class Kind { None, Relu, Clip } kind = Kind::None;
  float lo = 0.f, hi = 0.f;  // Clip only
};
struct Conv2dAttrs {
  // kernel_h/kernel_w come from the filter; stride/dilation/padding from here.
  Window2d win;
  int groups = 1;
  template <class V> void fields(V& v) {
    win.fields(v);
    v.integer("groups", groups);
  }
};
struct DenseAttrs {
  template <class V> void fields(V&) {}
};
struct ClipAttrs {
  float lo = 0.f, hi = 6.f;
  template <class V> void fields(V& v) {
    v.number("min", lo);
    v.number("max", hi);
  }
};
struct LeakyReluAttrs {
  float alpha = 0.01f;
  template <class V> void fields(V& v) { v.number("alpha", alpha); }
};
struct PoolAttrs {
  Window2d win;
  bool count_include_pad = false;  // avg pool only
  template <class V> void fields(V& v) {
    win.fields(v);
    v.boolean("countIncludePad", count_include_pad);
  }
};
struct AxisAttrs {  // concat, softmax, log-softmax; negative counts from the end
  int axis = -1;
  template <class V> void fields(V& v) { v.integer("axis", axis); }
};
struct LrnAttrs {
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.f;
  template <class V> void fields(V& v) {
    v.integer("size", size);
    v.number("alpha", alpha);
    v.number("beta", beta);
    v.number("bias", bias);
  }
};
struct BatchNormAttrs {
  float epsilon = 1e-5f;
  template <class V> void fields(V& v) { v.number("epsilon", epsilon); }
};
struct ReshapeAttrs {
  // ONNX semantics: 0 copies the input's dimension, one -1 is inferred.
  Shape shape;
  template <class V> void fields(V& v) { v.ints("shape", shape); }
};
struct FlattenAttrs {
  int axis = 1;
  template <class V> void fields(V& v) { v.integer("axis", axis); }
};
enum class PadKind { Constant, Reflect, Edge };
inline constexpr EnumName kPadKindNames[] = {
    {"constant", int(PadKind::Constant)}, {"reflect", int(PadKind::Reflect)}, {"edge", int(PadKind::Edge)}};
struct PadAttrs {
  PadKind kind = PadKind::Constant;
  float value = 0.f;
  // 2*rank entries: [before_0, ..., before_{r-1}, after_0, ..., after_{r-1}] (ONNX order).
  std::vector<int64_t> pads;
  template <class V> void fields(V& v) {
    v.choice("mode", "pad mode", kind, kPadKindNames);
    v.number("value", value);
    v.ints("pads", pads);
  }
};
enum class ResizeCoord {
  HalfPixel,     // src = (dst + 0.5) / scale - 0.5 (TF2, PyTorch align_corners=False)
  AlignCorners,  // src = dst * (in-1)/(out-1)
  Asymmetric,    // src = dst / scale (TF1 default)
};
inline constexpr EnumName kResizeCoordNames[] = {{"half_pixel", int(ResizeCoord::HalfPixel)},
                                                 {"align_corners", int(ResizeCoord::AlignCorners)},
                                                 {"asymmetric", int(ResizeCoord::Asymmetric)}};
struct TransposeAttrs {
  std::vector<int> perm;
  template <class V> void fields(V& v) { v.ints("perm", perm); }
};
struct ResizeAttrs {
  int out_h = 1, out_w = 1;
  ResizeCoord coord = ResizeCoord::HalfPixel;
  template <class V> void fields(V& v) {
    v.integer("height", out_h);
    v.integer("width", out_w);
    v.choice("coord", "coord", coord, kResizeCoordNames);
  }
};

using Attrs = std::variant<NoAttrs, Conv2dAttrs, DenseAttrs, ClipAttrs, LeakyReluAttrs, PoolAttrs,
                           AxisAttrs, LrnAttrs, BatchNormAttrs, ReshapeAttrs, FlattenAttrs, PadAttrs,
                           ResizeAttrs, TransposeAttrs>;

// One op applied: the op and its attributes (the inputs live in the graph).
struct OpCall {
  Op op;
  Attrs attrs;
  template <class T> const T& get() const { return std::get<T>(attrs); }
};

// An op's row of EC_OPS: arity, what the derivative reads (so the Program
// keeps only that alive) and its flags.
struct OpInfo {
  const char* name;
  int min_inputs, max_inputs;  // max_inputs -1: any number (concat)
  bool backward_needs_inputs;  // backward reads the forward inputs
  bool backward_needs_output;  // backward reads the forward output
  unsigned flags;              // OpFlag bits
  bool pointwise() const { return flags & kPointwise; }
  bool spatial() const { return flags & kSpatial; }
  bool window() const { return flags & kWindow; }
};
const OpInfo& op_info(Op op);
const char* op_name(Op op);
// Returns Op::COUNT when the name is unknown.
Op op_from_name(const std::string& name);
// Default attributes of the op's attribute type (its row's Attrs column).
Attrs default_attrs(Op op);
// Calls a.fields(v) on the attribute struct held by `attrs`.
template <class V> void visit_fields(Attrs& attrs, V& v) {
  std::visit([&](auto& a) { a.fields(v); }, attrs);
}

// Checks inputs and attributes and returns the output shape; throws ec::Error
// whose text names the op, the offending value and what was expected.
Shape infer_shape(const OpCall& call, const std::vector<Shape>& inputs);

// Resolved window geometry for one spatial dimension pair (pads applied).
struct Geometry2d {
  int64_t in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
  int pad_top, pad_left, pad_bottom, pad_right;
};
// Throws when the window does not fit (the message starts with `who`).
Geometry2d resolve_window(const char* who, const Window2d& w, int64_t in_h, int64_t in_w, bool is_pool);
// A conv2d call's geometry for input x (NHWC) and filter w (HWIO), as
// infer_shape resolves it; every backend's kernels start from this.
Geometry2d conv2d_geometry(const OpCall& call, const Shape& x, const Shape& w);

// Broadcast helper shared by add/mul: the numpy result shape, or throws.
Shape broadcast_shapes(const char* who, const Shape& a, const Shape& b);
// Normalizes a possibly negative axis against `rank`, or throws.
int normalize_axis(const char* who, int axis, int rank);

}  // namespace ec
