#include "ops.h"

#include <cmath>

namespace ec {

namespace {

// Generated from EC_OPS, in enum order.
const OpInfo kOpInfo[] = {
#define EC_OP_INFO(Enum, name, kernel, min_in, max_in, bin, bout, Attrs, flags) \
  {#name, min_in, max_in, bin != 0, bout != 0, flags},
    EC_OPS(EC_OP_INFO)
#undef EC_OP_INFO
};
static_assert(sizeof(kOpInfo) / sizeof(kOpInfo[0]) == kOpCount, "every op needs an OpInfo row");

[[noreturn]] void fail(const char* who, const std::string& what) {
  throw Error(std::string(who) + ": " + what);
}

std::string str(int64_t v) { return std::to_string(v); }

void expect_rank(const char* who, const char* what, const Shape& s, int rank) {
  if (static_cast<int>(s.size()) != rank)
    fail(who, std::string(what) + " must have rank " + str(rank) + " but has shape " + shape_str(s));
}

// One spatial dimension: output size and the padding actually applied.
void resolve_dim(const char* who, const char* dim, int64_t in, int k, int s, int d, PadMode mode, bool ceil_mode,
                 int& pad_lo, int& pad_hi, int64_t& out) {
  if (k < 1) fail(who, std::string("kernel ") + dim + " must be >= 1 but is " + str(k));
  if (s < 1) fail(who, std::string("stride ") + dim + " must be >= 1 but is " + str(s));
  if (d < 1) fail(who, std::string("dilation ") + dim + " must be >= 1 but is " + str(d));
  const int64_t span = static_cast<int64_t>(d) * (k - 1) + 1;
  switch (mode) {
    case PadMode::Valid: pad_lo = pad_hi = 0; break;
    case PadMode::SameUpper:
    case PadMode::SameLower: {
      const int64_t o = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (o - 1) * s + span - in);
      const int64_t small = total / 2, big = total - small;
      pad_lo = static_cast<int>(mode == PadMode::SameUpper ? small : big);
      pad_hi = static_cast<int>(mode == PadMode::SameUpper ? big : small);
      break;
    }
    case PadMode::Explicit:
      if (pad_lo < 0 || pad_hi < 0)
        fail(who, std::string("padding ") + dim + " must be >= 0 but is " + str(pad_lo) + "," + str(pad_hi));
      break;
  }
  const int64_t padded = in + pad_lo + pad_hi;
  if (padded < span)
    fail(who, std::string("window of ") + str(span) + " does not fit input " + dim + " " + str(in) +
                  " padded to " + str(padded));
  const int64_t room = padded - span;
  out = ceil_mode ? (room + s - 1) / s + 1 : room / s + 1;
  // ONNX/PyTorch rule: with ceil mode the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * s >= in + pad_lo) --out;
}

}  // namespace

const OpInfo& op_info(Op op) { return kOpInfo[static_cast<int>(op)]; }
const char* op_name(Op op) { return kOpInfo[static_cast<int>(op)].name; }

Attrs default_attrs(Op op) {
  switch (op) {
#define EC_OP_ATTRS(Enum, name, kernel, min_in, max_in, bin, bout, AttrsType, flags) \
  case Op::Enum: return AttrsType{};
    EC_OPS(EC_OP_ATTRS)
#undef EC_OP_ATTRS
    case Op::COUNT: break;
  }
  return NoAttrs{};
}

Op op_from_name(const std::string& name) {
  for (int i = 0; i < kOpCount; ++i)
    if (name == kOpInfo[i].name) return static_cast<Op>(i);
  return Op::COUNT;
}

Geometry2d resolve_window(const char* who, const Window2d& w, int64_t in_h, int64_t in_w, bool is_pool) {
  Geometry2d g{};
  g.in_h = in_h;
  g.in_w = in_w;
  g.kernel_h = w.kernel_h;
  g.kernel_w = w.kernel_w;
  g.stride_h = w.stride_h;
  g.stride_w = w.stride_w;
  g.dilation_h = w.dilation_h;
  g.dilation_w = w.dilation_w;
  g.pad_top = w.pad_top;
  g.pad_bottom = w.pad_bottom;
  g.pad_left = w.pad_left;
  g.pad_right = w.pad_right;
  const bool ceil = is_pool && w.ceil_mode;
  resolve_dim(who, "height", in_h, w.kernel_h, w.stride_h, w.dilation_h, w.pad_mode, ceil, g.pad_top, g.pad_bottom,
              g.out_h);
  resolve_dim(who, "width", in_w, w.kernel_w, w.stride_w, w.dilation_w, w.pad_mode, ceil, g.pad_left, g.pad_right,
              g.out_w);
  return g;
}

Geometry2d conv2d_geometry(const OpCall& call, const Shape& x, const Shape& w) {
  Window2d win = call.get<Conv2dAttrs>().win;
  win.kernel_h = static_cast<int>(w[0]), win.kernel_w = static_cast<int>(w[1]);
  win.ceil_mode = false;
  return resolve_window("conv2d", win, x[1], x[2], false);
}

Shape broadcast_shapes(const char* who, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(who, "shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast (dimension " + str(i) +
                    ": " + str(da) + " vs " + str(db) + ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_axis(const char* who, int axis, int rank) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    fail(who, "axis " + str(axis) + " is out of range for rank " + str(rank) + " (expected " + str(-rank) +
                  ".." + str(rank - 1) + ")");
  return a;
}

Shape infer_shape(const OpCall& call, const std::vector<Shape>& in) {
  const OpInfo& info = op_info(call.op);
  const char* who = info.name;
  const int n = static_cast<int>(in.size());
  if (n < info.min_inputs || (info.max_inputs >= 0 && n > info.max_inputs)) {
    const std::string want = info.max_inputs < 0            ? "at least " + str(info.min_inputs)
                             : info.min_inputs == info.max_inputs ? str(info.min_inputs)
                                                               : str(info.min_inputs) + " to " + str(info.max_inputs);
    fail(who, "expected " + want + " inputs but received " + str(n));
  }
  for (const Shape& s : in)
    for (int64_t d : s)
      if (d < 0) fail(who, "input shape " + shape_str(s) + " has a negative dimension");

  switch (call.op) {
    case Op::Conv2d: {
      const auto& a = call.get<Conv2dAttrs>();
      expect_rank(who, "input", in[0], 4);
      expect_rank(who, "filter", in[1], 4);
      const Shape &x = in[0], &w = in[1];
      if (a.groups < 1) fail(who, "groups must be >= 1 but is " + str(a.groups));
      if (x[3] % a.groups) fail(who, "input channels " + str(x[3]) + " are not divisible by groups " + str(a.groups));
      if (w[3] % a.groups) fail(who, "output channels " + str(w[3]) + " are not divisible by groups " + str(a.groups));
      if (w[2] * a.groups != x[3])
        fail(who, "input has " + str(x[3]) + " channels but filter expects " + str(w[2] * a.groups) +
                      " (filter " + shape_str(w) + ", groups " + str(a.groups) + ")");
      if (n == 3 && (in[2].size() != 1 || in[2][0] != w[3]))
        fail(who, "bias must have shape [" + str(w[3]) + "] but has " + shape_str(in[2]));
      const Geometry2d g = conv2d_geometry(call, x, w);
      return {x[0], g.out_h, g.out_w, w[3]};
    }
    case Op::Dense: {
      const Shape &x = in[0], &w = in[1];
      if (x.empty()) fail(who, "input must have rank >= 1 but has shape " + shape_str(x));
      expect_rank(who, "weight", w, 2);
      if (x.back() != w[0])
        fail(who, "input has " + str(x.back()) + " features but weight " + shape_str(w) + " expects " + str(w[0]));
      if (n == 3 && (in[2].size() != 1 || in[2][0] != w[1]))
        fail(who, "bias must have shape [" + str(w[1]) + "] but has " + shape_str(in[2]));
      Shape out = x;
      out.back() = w[1];
      return out;
    }
    case Op::Clip: {
      const auto& a = call.get<ClipAttrs>();
      if (std::isnan(a.lo) || std::isnan(a.hi) || a.lo > a.hi)
        fail(who, "expected min <= max but received min " + std::to_string(a.lo) + ", max " + std::to_string(a.hi));
      return in[0];
    }
    case Op::LeakyRelu:
      if (!std::isfinite(call.get<LeakyReluAttrs>().alpha)) fail(who, "alpha must be finite");
      return in[0];
    case Op::MaxPool:
    case Op::AvgPool: {
      expect_rank(who, "input", in[0], 4);
      const Geometry2d g = resolve_window(who, call.get<PoolAttrs>().win, in[0][1], in[0][2], true);
      return {in[0][0], g.out_h, g.out_w, in[0][3]};
    }
    case Op::GlobalAvgPool:
    case Op::GlobalMaxPool:
      expect_rank(who, "input", in[0], 4);
      if (in[0][1] * in[0][2] == 0) fail(who, "input " + shape_str(in[0]) + " has no pixels");
      return {in[0][0], 1, 1, in[0][3]};
    case Op::Add:
    case Op::Mul:
      return broadcast_shapes(who, in[0], in[1]);
    case Op::Concat: {
      const int rank = static_cast<int>(in[0].size());
      const int axis = normalize_axis(who, call.get<AxisAttrs>().axis, rank);
      Shape out = in[0];
      for (int i = 1; i < n; ++i) {
        if (static_cast<int>(in[i].size()) != rank)
          fail(who, "input " + str(i) + " has shape " + shape_str(in[i]) + " but input 0 has " + shape_str(in[0]));
        for (int d = 0; d < rank; ++d)
          if (d != axis && in[i][d] != in[0][d])
            fail(who, "input " + str(i) + " has shape " + shape_str(in[i]) + " which differs from " +
                          shape_str(in[0]) + " outside axis " + str(axis));
        out[axis] += in[i][axis];
      }
      return out;
    }
    case Op::Softmax:
    case Op::LogSoftmax:
      normalize_axis(who, call.get<AxisAttrs>().axis, static_cast<int>(in[0].size()));
      return in[0];
    case Op::Lrn: {
      const auto& a = call.get<LrnAttrs>();
      if (in[0].empty()) fail(who, "input must have rank >= 1");
      // Bounded above too: a size near INT_MAX overflowed the kernels' window arithmetic (found by native/fuzz).
      if (a.size < 1 || a.size > 4095) fail(who, "size must be between 1 and 4095 but is " + str(a.size));
      if (!std::isfinite(a.alpha) || !std::isfinite(a.beta) || !std::isfinite(a.bias) || a.bias <= 0.f)
        fail(who, "expected finite alpha, beta and bias > 0");
      return in[0];
    }
    case Op::BatchNorm: {
      const auto& a = call.get<BatchNormAttrs>();
      if (in[0].empty()) fail(who, "input must have rank >= 1");
      if (!(a.epsilon >= 0.f) || !std::isfinite(a.epsilon)) fail(who, "epsilon must be finite and >= 0");
      const int64_t c = in[0].back();
      static const char* names[] = {"", "scale", "bias", "mean", "variance"};
      for (int i = 1; i < 5; ++i)
        if (in[i].size() != 1 || in[i][0] != c)
          fail(who, std::string(names[i]) + " must have shape [" + str(c) + "] but has " + shape_str(in[i]));
      return in[0];
    }
    case Op::Reshape: {
      const auto& a = call.get<ReshapeAttrs>();
      Shape out = a.shape;
      int infer = -1;
      int64_t known = 1;
      for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] == 0) {
          if (i >= in[0].size()) fail(who, "target " + shape_str(a.shape) + " copies dimension " + str(i) + " which input " + shape_str(in[0]) + " lacks");
          out[i] = in[0][i];
        }
        if (out[i] == -1) {
          if (infer >= 0) fail(who, "target " + shape_str(a.shape) + " has more than one -1");
          infer = static_cast<int>(i);
          continue;
        }
        if (out[i] < 0) fail(who, "target " + shape_str(a.shape) + " has a negative dimension");
        // Checked before multiplying: a huge target overflowed int64 here (found by native/fuzz).
        if (out[i] != 0 && known > (int64_t{1} << 48) / out[i])
          fail(who, "target " + shape_str(a.shape) + " has more than 2^48 elements");
        known *= out[i];
      }
      const int64_t total = shape_numel(in[0]);
      if (infer >= 0) {
        if (known == 0 || total % known)
          fail(who, "cannot infer -1 in " + shape_str(a.shape) + " for input " + shape_str(in[0]));
        out[infer] = total / known;
      } else if (known != total) {
        fail(who, "cannot reshape " + shape_str(in[0]) + " (" + str(total) + " elements) to " + shape_str(a.shape));
      }
      return out;
    }
    case Op::Flatten: {
      const int rank = static_cast<int>(in[0].size());
      int axis = call.get<FlattenAttrs>().axis;
      if (axis < 0) axis += rank;
      if (axis < 0 || axis > rank) fail(who, "axis " + str(call.get<FlattenAttrs>().axis) + " is out of range for rank " + str(rank));
      int64_t lo = 1, hi = 1;
      for (int d = 0; d < rank; ++d) (d < axis ? lo : hi) *= in[0][d];
      return {lo, hi};
    }
    case Op::Pad: {
      const auto& a = call.get<PadAttrs>();
      const size_t rank = in[0].size();
      if (a.pads.size() != 2 * rank)
        fail(who, "expected " + str(2 * rank) + " pad values for input " + shape_str(in[0]) + " but received " +
                      str(a.pads.size()));
      Shape out = in[0];
      for (size_t d = 0; d < rank; ++d) {
        const int64_t lo = a.pads[d], hi = a.pads[d + rank];
        if (lo < 0 || hi < 0) fail(who, "pads must be >= 0 but dimension " + str(d) + " has " + str(lo) + "," + str(hi));
        if (a.kind == PadKind::Reflect && (lo >= in[0][d] || hi >= in[0][d]) && (lo || hi))
          fail(who, "reflect padding of " + str(std::max(lo, hi)) + " needs dimension " + str(d) + " larger than " +
                        str(in[0][d]));
        if (a.kind == PadKind::Edge && in[0][d] == 0 && (lo || hi))
          fail(who, "edge padding needs a non-empty dimension " + str(d));
        out[d] += lo + hi;
      }
      return out;
    }
    case Op::ResizeBilinear: {
      const auto& a = call.get<ResizeAttrs>();
      expect_rank(who, "input", in[0], 4);
      // Bounded: the kernels keep a tap per output row and column, even when the batch or the
      // channels are empty.
      if (a.out_h < 1 || a.out_w < 1 || a.out_h > 65536 || a.out_w > 65536)
        fail(who, "output size must be between 1x1 and 65536x65536 but is " + str(a.out_h) + "x" + str(a.out_w));
      if (in[0][1] < 1 || in[0][2] < 1) fail(who, "input " + shape_str(in[0]) + " has no pixels");
      return {in[0][0], a.out_h, a.out_w, in[0][3]};
    }
    case Op::Gram:
      expect_rank(who, "input", in[0], 4);
      if (in[0][1] * in[0][2] == 0) fail(who, "input " + shape_str(in[0]) + " has no pixels");
      return {in[0][0], in[0][3], in[0][3]};
    case Op::MseLoss:
    case Op::RmsLoss:
      if (in[0] != in[1])
        fail(who, "prediction " + shape_str(in[0]) + " and target " + shape_str(in[1]) + " must have the same shape");
      if (shape_numel(in[0]) == 0) fail(who, "inputs are empty");
      return {};
    case Op::SumSquares:
      return {};
    case Op::Transpose: {
      const auto& perm = call.get<TransposeAttrs>().perm;
      const size_t rank = in[0].size();
      if (perm.size() != rank)
        fail(who, "perm has " + str(perm.size()) + " entries but the input " + shape_str(in[0]) + " has rank " + str(rank));
      std::vector<bool> seen(rank, false);
      Shape out(rank);
      for (size_t i = 0; i < rank; ++i) {
        if (perm[i] < 0 || perm[i] >= static_cast<int>(rank) || seen[perm[i]])
          fail(who, "perm must be a permutation of 0.." + str(static_cast<int64_t>(rank) - 1));
        seen[perm[i]] = true;
        out[i] = in[0][perm[i]];
      }
      return out;
    }
    default:  // ops without attributes to check, such as the pointwise ones
      break;
  }
  if (call.op != Op::COUNT && info.pointwise()) return in[0];  // same shape, elementwise
  fail("op", "unknown op id " + str(static_cast<int>(call.op)));
}

}  // namespace ec
