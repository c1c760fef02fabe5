#include "op_table.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace ec::test {

std::vector<Shape> OpCase::shapes() const {
  std::vector<Shape> s;
  for (const InputSpec& in : inputs) s.push_back(in.shape);
  return s;
}

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float Rng::uniform(float lo, float hi) {
  // 24 random bits: every value is exactly representable before scaling.
  const float u = static_cast<float>(next() >> 40) * (1.f / 16777216.f);
  return lo + (hi - lo) * u;
}

int64_t Rng::below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }

uint64_t name_seed(const std::string& name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001B3ull;
  return h;
}

double fd_step(const OpCase& c, int i) {
  const InputSpec& s = c.inputs.at(i);
  double step = c.eps_rel * std::max({std::fabs(s.lo), std::fabs(s.hi), 1e-3f});
  const int64_t n = shape_numel(s.shape);
  if (s.gen == Gen::Distinct && n > 1) step = std::min(step, 0.25 * (s.hi - s.lo) / (n - 1));
  return step;
}

double kink_margin(const OpCase& c, int i) { return std::max(0.05, 2.0 * fd_step(c, i)); }

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t(shape);
  Rng rng(seed);
  for (int64_t k = 0; k < t.numel(); ++k) t.data()[k] = rng.uniform(lo, hi);
  return t;
}

Tensor make_input(const OpCase& c, int i, uint64_t seed) {
  const InputSpec& s = c.inputs.at(i);
  Rng rng(seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(i + 1)));
  Tensor t(s.shape);
  float* p = t.data();
  const int64_t n = t.numel();
  switch (s.gen) {
    case Gen::Distinct:
      for (int64_t k = 0; k < n; ++k) p[k] = n == 1 ? 0.5f * (s.lo + s.hi) : s.lo + (s.hi - s.lo) * k / (n - 1);
      for (int64_t k = n - 1; k > 0; --k) std::swap(p[k], p[rng.below(k + 1)]);
      break;
    case Gen::AwayFromKinks: {
      const double margin = kink_margin(c, i);
      for (int64_t k = 0; k < n; ++k) {
        // Rejection sampling; the table keeps the kinks a small part of [lo, hi].
        for (int tries = 0;; ++tries) {
          if (tries > 10000) throw Error("op_table: " + c.name + " leaves no room away from its kinks");
          p[k] = rng.uniform(s.lo, s.hi);
          bool near = false;
          for (float kink : c.kinks) near = near || std::fabs(p[k] - kink) <= margin;
          if (!near) break;
        }
      }
      break;
    }
    case Gen::Uniform:
    case Gen::Positive:
      for (int64_t k = 0; k < n; ++k) p[k] = rng.uniform(s.lo, s.hi);
      break;
  }
  return t;
}

std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed) {
  std::vector<Tensor> out;
  for (size_t i = 0; i < c.inputs.size(); ++i) out.push_back(make_input(c, static_cast<int>(i), seed));
  return out;
}

namespace {

InputSpec in(Shape s, float lo = -1.f, float hi = 1.f, Gen g = Gen::Uniform) {
  InputSpec spec;
  spec.shape = std::move(s);
  spec.gen = g;
  spec.lo = lo;
  spec.hi = hi;
  return spec;
}
InputSpec distinct(Shape s) { return in(std::move(s), -1.f, 1.f, Gen::Distinct); }
InputSpec positive(Shape s, float lo = 0.5f, float hi = 1.5f) { return in(std::move(s), lo, hi, Gen::Positive); }
InputSpec kinked(Shape s, float lo = -1.f, float hi = 1.f) { return in(std::move(s), lo, hi, Gen::AwayFromKinks); }

using Pads = std::array<int, 4>;  // top, bottom, left, right

void set_window(Window2d& w, int stride, int dilation, PadMode mode, Pads p) {
  w.stride_h = w.stride_w = stride;
  w.dilation_h = w.dilation_w = dilation;
  w.pad_mode = mode;
  w.pad_top = p[0];
  w.pad_bottom = p[1];
  w.pad_left = p[2];
  w.pad_right = p[3];
}

Conv2dAttrs conv(int stride, int dilation, PadMode mode, Pads p = {}, int groups = 1) {
  Conv2dAttrs a;
  set_window(a.win, stride, dilation, mode, p);
  a.groups = groups;
  return a;
}

PoolAttrs pool(int kh, int kw, int stride, PadMode mode, Pads p = {}, bool ceil = false, bool include_pad = false,
               int dilation = 1) {
  PoolAttrs a;
  set_window(a.win, stride, dilation, mode, p);
  a.win.kernel_h = kh;
  a.win.kernel_w = kw;
  a.win.ceil_mode = ceil;
  a.count_include_pad = include_pad;
  return a;
}

AxisAttrs axis(int a) { return AxisAttrs{a}; }

LrnAttrs lrn(int size, float alpha, float beta, float bias) { return LrnAttrs{size, alpha, beta, bias}; }

PadAttrs pad(PadKind kind, std::vector<int64_t> pads, float value = 0.f) {
  PadAttrs a;
  a.kind = kind;
  a.value = value;
  a.pads = std::move(pads);
  return a;
}

ResizeAttrs resize(int h, int w, ResizeCoord coord) { return ResizeAttrs{h, w, coord}; }

class Table {
 public:
  OpCase& add(Op op, const std::string& variant, Attrs attrs, std::vector<InputSpec> inputs) {
    OpCase c;
    c.name = std::string(op_name(op)) + "." + variant;
    c.call = OpCall{op, std::move(attrs)};
    c.inputs = std::move(inputs);
    cases_.push_back(std::move(c));
    return cases_.back();
  }
  std::vector<OpCase> take() { return std::move(cases_); }

 private:
  std::vector<OpCase> cases_;
};

void conv_cases(Table& t) {
  using M = PadMode;
  const Op op = Op::Conv2d;
  t.add(op, "pad1_bias", conv(1, 1, M::Explicit, {1, 1, 1, 1}), {in({1, 5, 5, 3}), in({3, 3, 3, 4}), in({4})});
  t.add(op, "stride2_nobias", conv(2, 1, M::Explicit), {in({1, 7, 6, 2}), in({3, 3, 2, 3})});
  t.add(op, "dilation2", conv(1, 2, M::Explicit, {2, 2, 2, 2}), {in({1, 7, 7, 2}), in({3, 3, 2, 2}), in({2})});
  t.add(op, "asym_pads", conv(1, 1, M::Explicit, {0, 2, 1, 0}), {in({1, 4, 5, 2}), in({2, 3, 2, 3}), in({3})});
  t.add(op, "same_upper_stride2", conv(2, 1, M::SameUpper), {in({1, 6, 5, 3}), in({3, 3, 3, 2}), in({2})});
  t.add(op, "same_lower_stride2", conv(2, 1, M::SameLower), {in({1, 6, 5, 3}), in({3, 3, 3, 2}), in({2})});
  // An even kernel makes SAME's total padding odd, so top/left and bottom/right differ.
  t.add(op, "same_even_kernel", conv(1, 1, M::SameUpper), {in({1, 4, 4, 2}), in({2, 2, 2, 2})});
  t.add(op, "valid_batch2", conv(1, 1, M::Valid), {in({2, 5, 4, 2}), in({2, 2, 2, 3}), in({3})});
  t.add(op, "groups2", conv(1, 1, M::Explicit, {1, 1, 1, 1}, 2), {in({1, 5, 5, 4}), in({3, 3, 2, 6}), in({6})});
  t.add(op, "depthwise", conv(1, 1, M::SameUpper, {}, 3), {in({1, 5, 5, 3}), in({3, 3, 1, 3}), in({3})});
  t.add(op, "depthwise_mult2_stride2", conv(2, 1, M::SameUpper, {}, 2), {in({1, 6, 6, 2}), in({3, 3, 1, 4})});
  t.add(op, "pointwise_batch2", conv(1, 1, M::Valid), {in({2, 3, 3, 4}), in({1, 1, 4, 5}), in({5})});
  t.add(op, "stride2_dilation2_groups2", conv(2, 2, M::Explicit, {1, 0, 0, 1}, 2),
        {in({1, 8, 8, 4}), in({2, 2, 2, 4}), in({4})});
  // One output pixel per image (a fully connected layer written as a conv):
  // the few-rows product (sweeps of eight filter rows and single rows, a
  // column tail past a vector; backward: dot products over filter rows).
  // The large shapes that split the product are in gemm_test.cc and the JS op table.
  t.add(op, "valid_one_pixel_batch3_few_rows", conv(1, 1, M::Valid), {in({3, 3, 3, 4}), in({3, 3, 4, 17}), in({17})});
  // 1x1 on one pixel with a Cout the direct 1x1 kernel does not take: the few-rows product.
  t.add(op, "pointwise_one_pixel_batch2_odd", conv(1, 1, M::Valid), {in({2, 1, 1, 20}), in({1, 1, 20, 33})});
}

void pool_cases(Table& t) {
  using M = PadMode;
  // Max pools get distinct values: a tie would make the gradient ambiguous.
  const Op mx = Op::MaxPool, av = Op::AvgPool;
  t.add(mx, "k2s2", pool(2, 2, 2, M::Explicit), {distinct({1, 4, 4, 2})});
  t.add(mx, "k3s2_pad1", pool(3, 3, 2, M::Explicit, {1, 1, 1, 1}), {distinct({1, 5, 5, 2})});
  t.add(mx, "k2s2_ceil", pool(2, 2, 2, M::Explicit, {}, true), {distinct({1, 5, 5, 2})});
  t.add(mx, "k3s2_ceil_pad1", pool(3, 3, 2, M::Explicit, {1, 1, 1, 1}, true), {distinct({1, 6, 6, 2})});
  t.add(mx, "same_k3s2", pool(3, 3, 2, M::SameUpper), {distinct({1, 6, 5, 2})});
  t.add(mx, "asym_pads_k2x3", pool(2, 3, 1, M::Explicit, {1, 0, 0, 1}), {distinct({2, 4, 5, 1})});
  t.add(mx, "dilation2", pool(2, 2, 1, M::Valid, {}, false, false, 2), {distinct({1, 5, 5, 2})});
  t.add(av, "k3s1_pad1_exclude_pad", pool(3, 3, 1, M::Explicit, {1, 1, 1, 1}), {in({1, 4, 4, 2})});
  t.add(av, "k3s1_pad1_include_pad", pool(3, 3, 1, M::Explicit, {1, 1, 1, 1}, false, true), {in({1, 4, 4, 2})});
  // Ceil mode's last window runs past the bottom/right padding.
  t.add(av, "k3s2_ceil_exclude_pad", pool(3, 3, 2, M::Explicit, {1, 1, 1, 1}, true), {in({1, 6, 6, 2})});
  t.add(av, "k3s2_ceil_include_pad", pool(3, 3, 2, M::Explicit, {1, 1, 1, 1}, true, true), {in({1, 6, 6, 2})});
  t.add(av, "k2s2_ceil_no_pad", pool(2, 2, 2, M::Explicit, {}, true), {in({1, 5, 5, 2})});
  t.add(av, "same_k3s2", pool(3, 3, 2, M::SameUpper), {in({1, 6, 5, 2})});
  t.add(av, "same_k3s2_include_pad", pool(3, 3, 2, M::SameUpper, {}, false, true), {in({1, 6, 5, 2})});
  t.add(av, "k2s2_valid_batch2", pool(2, 2, 2, M::Valid), {in({2, 4, 4, 3})});
  t.add(Op::GlobalAvgPool, "basic", NoAttrs{}, {in({2, 3, 4, 3})});
  t.add(Op::GlobalMaxPool, "basic", NoAttrs{}, {distinct({2, 3, 4, 3})});
}

void elementwise_cases(Table& t) {
  t.add(Op::Relu, "basic", NoAttrs{}, {kinked({2, 3, 4})}).kinks = {0.f};
  t.add(Op::Abs, "basic", NoAttrs{}, {kinked({2, 3, 4})}).kinks = {0.f};
  t.add(Op::Clip, "relu6", ClipAttrs{0.f, 6.f}, {kinked({2, 3, 4}, -1.f, 7.f)}).kinks = {0.f, 6.f};
  t.add(Op::Clip, "symmetric", ClipAttrs{-0.5f, 0.5f}, {kinked({3, 5})}).kinks = {-0.5f, 0.5f};
  t.add(Op::LeakyRelu, "alpha0_2", LeakyReluAttrs{0.2f}, {kinked({2, 3, 4})}).kinks = {0.f};
  t.add(Op::LeakyRelu, "default_alpha", LeakyReluAttrs{}, {kinked({4, 5})}).kinks = {0.f};
  t.add(Op::Sigmoid, "basic", NoAttrs{}, {in({2, 3, 4}, -3.f, 3.f)});
  t.add(Op::Tanh, "basic", NoAttrs{}, {in({2, 3, 4}, -2.f, 2.f)});
  t.add(Op::Add, "same_shape", NoAttrs{}, {in({2, 3, 4}), in({2, 3, 4})});
  t.add(Op::Add, "bcast_last", NoAttrs{}, {in({2, 3, 4, 5}), in({5})});
  t.add(Op::Add, "bcast_both", NoAttrs{}, {in({2, 1, 4, 1}), in({1, 3, 1, 5})});
  t.add(Op::Add, "scalar_rhs", NoAttrs{}, {in({3, 4}), in({})});
  t.add(Op::Mul, "same_shape", NoAttrs{}, {in({2, 3, 4}), in({2, 3, 4})});
  t.add(Op::Mul, "bcast_last", NoAttrs{}, {in({2, 3, 4, 5}), in({5})});
  t.add(Op::Mul, "bcast_both", NoAttrs{}, {in({2, 1, 4, 1}), in({1, 3, 1, 5})});
  t.add(Op::Mul, "bcast_lhs_lower_rank", NoAttrs{}, {in({4, 1}), in({2, 3, 4, 5})});
}

void layer_cases(Table& t) {
  t.add(Op::Dense, "leading_dims_bias", DenseAttrs{}, {in({2, 3, 5}), in({5, 4}), in({4})});
  t.add(Op::Dense, "matrix_nobias", DenseAttrs{}, {in({4, 6}), in({6, 3})});
  t.add(Op::Dense, "vector_bias", DenseAttrs{}, {in({7}), in({7, 2}), in({2})});
  // The few-rows product with odd sizes (row sweeps and single rows, column tails).
  t.add(Op::Dense, "few_rows_odd", DenseAttrs{}, {in({2, 19}), in({19, 37}), in({37})});
  t.add(Op::Dense, "vector_odd", DenseAttrs{}, {in({29}), in({29, 31})});
  t.add(Op::Concat, "axis3_three", axis(3), {in({2, 3, 4, 2}), in({2, 3, 4, 1}), in({2, 3, 4, 3})});
  t.add(Op::Concat, "axis1_three", axis(1), {in({2, 1, 3, 2}), in({2, 2, 3, 2}), in({2, 3, 3, 2})});
  t.add(Op::Concat, "axis_neg1_two", axis(-1), {in({3, 2}), in({3, 4})});
  t.add(Op::Concat, "single", axis(0), {in({2, 3})});
  for (Op op : {Op::Softmax, Op::LogSoftmax}) {
    t.add(op, "last_axis", axis(-1), {in({2, 3, 5}, -3.f, 3.f)});
    t.add(op, "middle_axis", axis(1), {in({2, 4, 3}, -3.f, 3.f)});
  }
  // Large alphas so the normalizer's derivative matters; the default is almost the identity.
  t.add(Op::Lrn, "size3", lrn(3, 0.5f, 0.75f, 1.f), {in({1, 2, 3, 6})});
  t.add(Op::Lrn, "size5", lrn(5, 1.f, 0.75f, 2.f), {in({2, 2, 2, 7}, -2.f, 2.f)});
  t.add(Op::Lrn, "size5_defaults_positive", LrnAttrs{}, {positive({1, 2, 2, 8}, 0.1f, 3.f)});
  t.add(Op::Lrn, "size2_even", lrn(2, 0.8f, 0.5f, 1.f), {in({1, 1, 3, 5})});
  t.add(Op::BatchNorm, "nhwc", BatchNormAttrs{},
        {in({1, 2, 3, 4}), in({4}), in({4}), in({4}), positive({4})});
  t.add(Op::BatchNorm, "rank2_eps", BatchNormAttrs{1e-3f}, {in({5, 3}), in({3}), in({3}), in({3}), positive({3})});
  t.add(Op::Gram, "basic", NoAttrs{}, {in({1, 3, 4, 3})});
  t.add(Op::Gram, "batch2", NoAttrs{}, {in({2, 2, 3, 4})});
  t.add(Op::MseLoss, "rank3", NoAttrs{}, {in({2, 3, 4}), in({2, 3, 4})});
  t.add(Op::MseLoss, "vector", NoAttrs{}, {in({7}), in({7})});
  t.add(Op::RmsLoss, "rank3", NoAttrs{}, {in({2, 3, 4}), in({2, 3, 4})});
  t.add(Op::RmsLoss, "vector", NoAttrs{}, {in({7}), in({7})});
  t.add(Op::SumSquares, "rank3", NoAttrs{}, {in({2, 3, 4})});
  t.add(Op::SumSquares, "vector", NoAttrs{}, {in({5})});
  t.add(Op::Transpose, "nhwc_to_nchw", TransposeAttrs{{0, 3, 1, 2}}, {in({2, 3, 4, 5})});
  t.add(Op::Transpose, "rank3", TransposeAttrs{{2, 0, 1}}, {in({2, 3, 4})});
  t.add(Op::Transpose, "identity", TransposeAttrs{{0, 1}}, {in({3, 2})});
}

void shape_cases(Table& t) {
  t.add(Op::Reshape, "copy0_infer", ReshapeAttrs{{0, -1}}, {in({2, 3, 4})});
  t.add(Op::Reshape, "infer_first_copy_middle", ReshapeAttrs{{-1, 0, 2, 2}}, {in({2, 3, 4})});
  t.add(Op::Reshape, "to_vector", ReshapeAttrs{{24}}, {in({2, 3, 4})});
  t.add(Op::Flatten, "axis1", FlattenAttrs{1}, {in({2, 3, 2, 2})});
  t.add(Op::Flatten, "axis0", FlattenAttrs{0}, {in({2, 3, 4})});
  t.add(Op::Flatten, "axis_neg1", FlattenAttrs{-1}, {in({2, 3, 2, 2})});
  t.add(Op::Pad, "constant", pad(PadKind::Constant, {0, 1, 2, 0, 0, 2, 1, 0}, 0.5f), {in({1, 3, 3, 2})});
  t.add(Op::Pad, "constant_rank2", pad(PadKind::Constant, {1, 0, 2, 3}), {in({3, 4})});
  t.add(Op::Pad, "reflect", pad(PadKind::Reflect, {0, 2, 1, 0, 0, 1, 2, 0}), {in({1, 4, 3, 2})});
  t.add(Op::Pad, "edge", pad(PadKind::Edge, {0, 2, 1, 0, 0, 1, 3, 1}), {in({1, 3, 3, 2})});
  const std::pair<ResizeCoord, const char*> coords[] = {{ResizeCoord::HalfPixel, "half_pixel"},
                                                        {ResizeCoord::AlignCorners, "align_corners"},
                                                        {ResizeCoord::Asymmetric, "asymmetric"}};
  for (const auto& [coord, name] : coords) {
    t.add(Op::ResizeBilinear, std::string(name) + "_up", resize(5, 7, coord), {in({1, 3, 4, 2})});
    t.add(Op::ResizeBilinear, std::string(name) + "_down", resize(3, 2, coord), {in({2, 6, 5, 2})});
  }
}

}  // namespace

std::vector<OpCase> op_cases() {
  Table t;
  conv_cases(t);
  pool_cases(t);
  elementwise_cases(t);
  layer_cases(t);
  shape_cases(t);
  return t.take();
}

}  // namespace ec::test
