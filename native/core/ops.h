// The op set, declared once. Every backend, the binding and the tests switch
// over `Op`; adding an op fails to build until each table below knows it.
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

#include "tensor.h"

// Op -> kernel name prefix, shared by every backend's dispatch switch (Flatten
// shares reshape's kernels): each backend names its kernels <prefix>_forward / _backward.
#define EC_OP_KERNELS(X)                                                                    \
  X(Conv2d, conv2d) X(Dense, dense) X(Relu, relu) X(Clip, clip) X(LeakyRelu, leaky_relu)    \
  X(Sigmoid, sigmoid) X(Tanh, tanh) X(MaxPool, max_pool) X(AvgPool, avg_pool)               \
  X(GlobalAvgPool, global_avg_pool) X(GlobalMaxPool, global_max_pool) X(Add, add)           \
  X(Mul, mul) X(Concat, concat) X(Softmax, softmax) X(LogSoftmax, log_softmax) X(Lrn, lrn)  \
  X(BatchNorm, batch_norm) X(Reshape, reshape) X(Flatten, reshape) X(Pad, pad)              \
  X(ResizeBilinear, resize_bilinear) X(Gram, gram) X(MseLoss, mse_loss)                     \
  X(RmsLoss, rms_loss) X(SumSquares, sum_squares) X(Transpose, transpose)

namespace ec {

enum class Op : int {
  Conv2d,          // x[N,H,W,Cin], w[KH,KW,Cin/g,Cout], b[Cout]? -> [N,OH,OW,Cout]
  Dense,           // x[...,In], w[In,Out], b[Out]? -> [...,Out]
  Relu,            // max(x,0); dx = dy where x>0
  Clip,            // min(max(x,lo),hi); relu6 = clip(0,6); dx = dy where lo<x<hi
  LeakyRelu,       // x>0 ? x : alpha*x
  Sigmoid,         // 1/(1+exp(-x))
  Tanh,            //
  MaxPool,         // x[N,H,W,C] -> [N,OH,OW,C]; padded cells never win
  AvgPool,         // x[N,H,W,C] -> [N,OH,OW,C]
  GlobalAvgPool,   // x[N,H,W,C] -> [N,1,1,C]
  GlobalMaxPool,   // x[N,H,W,C] -> [N,1,1,C]
  Add,             // numpy broadcast of a and b
  Mul,             // numpy broadcast of a and b
  Concat,          // k inputs joined along `axis`
  Softmax,         // along `axis`
  LogSoftmax,      // along `axis`
  Lrn,             // across channels (last axis), ONNX/Caffe semantics
  BatchNorm,       // x[...,C], scale[C], bias[C], mean[C], var[C] (inference)
  Reshape,         // same elements, new shape
  Flatten,         // [d0..dk-1, dk..] -> [prod(d0..dk-1), prod(dk..)]
  Pad,             // constant / reflect / edge, per-dimension before/after
  ResizeBilinear,  // x[N,H,W,C] -> [N,OH,OW,C]
  Gram,            // F[N,H,W,C] -> G[N,C,C] = F^T F / (H*W)
  MseLoss,         // mean((a-b)^2) -> []
  RmsLoss,         // sqrt(mean((a-b)^2)) -> []
  SumSquares,      // sum(x^2) -> []
  Transpose,       // y.shape[i] = x.shape[perm[i]] (NHWC <-> NCHW at model edges)
  COUNT
};
constexpr int kOpCount = static_cast<int>(Op::COUNT);

// How a conv or pool derives its padding from the input size.
enum class PadMode {
  Explicit,   // use pad_top/bottom/left/right as given
  Valid,      // no padding
  SameUpper,  // TF "SAME": out = ceil(in/stride); odd total padding goes to bottom/right
  SameLower,  // as SameUpper, odd total padding goes to top/left
};

struct Window2d {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  PadMode pad_mode = PadMode::Explicit;
  bool ceil_mode = false;  // pools only: output size rounds up
};

struct NoAttrs {};
// An activation applied to a conv's output as it is written. Graphs never set
// it: the Program sets it for an inference pass when a conv's only reader is a
// relu or clip, so the activation costs no extra pass over memory.
struct Epilogue {
  enum class Kind { None, Relu, Clip } kind = Kind::None;
  float lo = 0.f, hi = 0.f;  // Clip only
};
struct Conv2dAttrs {
  // kernel_h/kernel_w come from the filter; stride/dilation/padding from here.
  Window2d win;
  int groups = 1;
  Epilogue epilogue;
};
struct DenseAttrs {};
struct ClipAttrs { float lo = 0.f, hi = 6.f; };
struct LeakyReluAttrs { float alpha = 0.01f; };
struct PoolAttrs {
  Window2d win;
  bool count_include_pad = false;  // avg pool only
};
struct AxisAttrs { int axis = -1; };  // concat, softmax, log-softmax; negative counts from the end
struct LrnAttrs { int size = 5; float alpha = 1e-4f, beta = 0.75f, bias = 1.f; };
struct BatchNormAttrs { float epsilon = 1e-5f; };
struct ReshapeAttrs {
  // ONNX semantics: 0 copies the input's dimension, one -1 is inferred.
  Shape shape;
};
struct FlattenAttrs { int axis = 1; };
enum class PadKind { Constant, Reflect, Edge };
struct PadAttrs {
  PadKind kind = PadKind::Constant;
  float value = 0.f;
  // 2*rank entries: [before_0, ..., before_{r-1}, after_0, ..., after_{r-1}] (ONNX order).
  std::vector<int64_t> pads;
};
enum class ResizeCoord {
  HalfPixel,     // src = (dst + 0.5) / scale - 0.5 (TF2, PyTorch align_corners=False)
  AlignCorners,  // src = dst * (in-1)/(out-1)
  Asymmetric,    // src = dst / scale (TF1 default)
};
struct TransposeAttrs { std::vector<int> perm; };
struct ResizeAttrs { int out_h = 1, out_w = 1; ResizeCoord coord = ResizeCoord::HalfPixel; };

using Attrs = std::variant<NoAttrs, Conv2dAttrs, DenseAttrs, ClipAttrs, LeakyReluAttrs, PoolAttrs,
                           AxisAttrs, LrnAttrs, BatchNormAttrs, ReshapeAttrs, FlattenAttrs, PadAttrs,
                           ResizeAttrs, TransposeAttrs>;

// One op applied: the op and its attributes (the inputs live in the graph).
struct OpCall {
  Op op;
  Attrs attrs;
  template <class T> const T& get() const { return std::get<T>(attrs); }
};

// What the derivative of an op reads, so the Program keeps only that alive.
struct OpInfo {
  const char* name;
  int min_inputs, max_inputs;  // max_inputs -1: any number (concat)
  bool backward_needs_inputs;  // backward reads the forward inputs
  bool backward_needs_output;  // backward reads the forward output
};
const OpInfo& op_info(Op op);
const char* op_name(Op op);
// Returns Op::COUNT when the name is unknown.
Op op_from_name(const std::string& name);

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
