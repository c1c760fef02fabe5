// Drives the op table (op_table.h) through the CPU kernels, one test per case
// ("op_table.<op>.<variant>"), plus coverage and error-text tests.
//
// Per case: forward writes every output element, stays inside its buffer, is
// bit-for-bit repeatable and leaves its inputs alone; backward likewise, and
// honours the OpInfo contract (null inputs / empty output when it says it
// does not read them, null din for gradients not asked for); and every
// differentiable input's gradient matches central differences of
// L = sum(out * R) for a fixed random R.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "../cpu/kernels.h"
#include "op_table.h"
#include "test.h"

namespace ec::test {
namespace {

constexpr int64_t kGuard = 16;        // floats after each buffer that kernels must not touch
constexpr int kMaxSamples = 64;       // gradient elements checked per input
constexpr int kMaxReported = 10;      // failure lines per case
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kSentinel = -12345.25f;

// A host tensor with kGuard extra floats behind its last element. Outputs get
// a sentinel there (an overrun changes it); inputs get NaN (an over-read
// poisons the result).
Tensor guarded(const Shape& shape, float fill, float guard) {
  auto st = std::make_shared<Storage>();
  const int64_t n = shape_numel(shape);
  st->numel = n + kGuard;
  const size_t bytes = ((st->numel * sizeof(float) + 63) / 64) * 64;
  st->data = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!st->data) throw Error("op_table_test: out of memory");
  st->release = [](float* p) { std::free(p); };
  std::fill(st->data, st->data + n, fill);
  std::fill(st->data + n, st->data + n + kGuard, guard);
  return Tensor(shape, st);
}

Tensor guarded_copy(const Tensor& t) {
  Tensor g = guarded(t.shape(), 0.f, kNaN);
  std::copy(t.data(), t.data() + t.numel(), g.data());
  return g;
}

bool same_bits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

bool guard_intact(const Tensor& t) {
  const float* g = t.data() + t.numel();
  for (int64_t k = 0; k < kGuard; ++k)
    if (g[k] != kSentinel) return false;
  return true;
}

// Index of the first non-finite element, or -1.
int64_t first_non_finite(const Tensor& t) {
  for (int64_t k = 0; k < t.numel(); ++k)
    if (!std::isfinite(t.data()[k])) return k;
  return -1;
}

// "[0,2,1,3]" for flat index k of `shape`.
std::string coords(const Shape& shape, int64_t k) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? k % shape[d] : 0;
    k = shape[d] ? k / shape[d] : 0;
  }
  return shape_str(idx);
}

double weighted_sum(const Tensor& y, const Tensor& r) {
  double s = 0;
  for (int64_t k = 0; k < y.numel(); ++k) s += static_cast<double>(y.data()[k]) * r.data()[k];
  return s;
}

// Up to kMaxSamples distinct flat indices of [0, n), always the first and last.
std::vector<int64_t> sample_indices(int64_t n, uint64_t seed) {
  std::vector<int64_t> all(n);
  for (int64_t k = 0; k < n; ++k) all[k] = k;
  if (n <= kMaxSamples) return all;
  Rng rng(seed);
  std::vector<int64_t> picked = {0, n - 1};
  for (int64_t k = n - 2; k > 0 && static_cast<int>(picked.size()) < kMaxSamples; --k) {
    std::swap(all[k], all[1 + rng.below(k)]);  // partial Fisher-Yates over 1..n-2
    picked.push_back(all[k]);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

class CaseChecker {
 public:
  explicit CaseChecker(const OpCase& c) : c_(c), info_(op_info(c.call.op)), seed_(name_seed(c.name)) {}

  void run() {
    const std::vector<Tensor> host = make_inputs(c_, seed_);
    for (const Tensor& t : host) x_.push_back(guarded_copy(t));
    for (Tensor& t : x_) in_.push_back(&t);
    out_shape_ = infer_shape(c_.call, c_.shapes());
    if (check_forward(host) && check_backward(host))
      for (size_t i = 0; i < x_.size(); ++i)
        if (c_.inputs[i].differentiable) check_gradient(static_cast<int>(i));
    if (failures_) {
      std::ostringstream msg;
      msg << c_.name << ": " << failures_ << " failure(s)" << report_.str();
      if (failures_ > kMaxReported) msg << "\n  ...";
      throw Failure(msg.str());
    }
  }

 private:
  template <class... Parts>
  void fail(const Parts&... parts) {
    if (++failures_ > kMaxReported) return;
    report_ << "\n  ";
    (report_ << ... << parts);
  }

  bool inputs_untouched(const std::vector<Tensor>& host, const char* when) {
    for (size_t i = 0; i < x_.size(); ++i)
      if (!same_bits(x_[i].data(), host[i].data(), host[i].numel())) {
        fail(when, " modified input ", i);
        return false;
      }
    return true;
  }

  bool call_forward(Tensor& y, const char* when) {
    try {
      cpu::forward(c_.call, in_, y);
      return true;
    } catch (const std::exception& e) {
      fail(when, " threw: ", e.what());
      return false;
    }
  }

  bool check_forward(const std::vector<Tensor>& host) {
    y_ = guarded(out_shape_, kNaN, kSentinel);
    if (!call_forward(y_, "forward")) return false;
    bool ok = true;
    if (y_.shape() != out_shape_) {
      fail("forward replaced the output: shape ", shape_str(y_.shape()), ", infer_shape says ", shape_str(out_shape_));
      return false;
    }
    if (int64_t k = first_non_finite(y_); k >= 0) {
      fail("forward left output element ", coords(out_shape_, k), " non-finite (", y_.data()[k], ")");
      ok = false;
    }
    if (!guard_intact(y_)) fail("forward wrote past the end of its ", out_shape_.size(), "-d output"), ok = false;
    // Different garbage in the output must give the same bits: the kernel reads none of it.
    Tensor again = guarded(out_shape_, 7.5f, kSentinel);
    if (call_forward(again, "second forward") && !same_bits(again.data(), y_.data(), y_.numel()))
      fail("forward is not deterministic (or reads its output buffer)"), ok = false;
    return inputs_untouched(host, "forward") && ok;
  }

  // One backward call asking for the gradients in `want` (others null).
  bool call_backward(const std::vector<bool>& want, float fill, std::vector<Tensor>& din, const char* when) {
    Inputs in(x_.size(), nullptr);
    if (info_.backward_needs_inputs) in = in_;
    const Tensor out = info_.backward_needs_output ? y_ : Tensor();
    din.assign(x_.size(), Tensor());
    Grads grads(x_.size(), nullptr);
    for (size_t i = 0; i < x_.size(); ++i)
      if (want[i]) din[i] = guarded(x_[i].shape(), fill, kSentinel), grads[i] = &din[i];
    try {
      cpu::backward(c_.call, in, out, dy_, grads);
      return true;
    } catch (const std::exception& e) {
      fail(when, " threw: ", e.what());
      return false;
    }
  }

  bool check_backward(const std::vector<Tensor>& host) {
    dy_ = guarded_copy(random_tensor(out_shape_, seed_ ^ 0x5EEDull));
    const Tensor dy_host = dy_.clone();
    const std::vector<bool> all(x_.size(), true);
    if (!call_backward(all, kNaN, grad_, "backward")) return false;
    bool ok = true;
    for (size_t i = 0; i < x_.size(); ++i) {
      if (int64_t k = first_non_finite(grad_[i]); k >= 0)
        fail("backward left din[", i, "] element ", coords(x_[i].shape(), k), " non-finite (", grad_[i].data()[k],
             ")"),
            ok = false;
      if (!guard_intact(grad_[i])) fail("backward wrote past the end of din[", i, "]"), ok = false;
    }
    std::vector<Tensor> again;
    if (call_backward(all, -7.5f, again, "second backward"))
      for (size_t i = 0; i < x_.size(); ++i)
        if (!same_bits(again[i].data(), grad_[i].data(), grad_[i].numel()))
          fail("backward din[", i, "] is not deterministic (or reads its din buffer)"), ok = false;
    // One gradient at a time: the others are null and must not be written or needed.
    for (size_t i = 0; i < x_.size() && x_.size() > 1; ++i) {
      std::vector<bool> one(x_.size(), false);
      one[i] = true;
      std::vector<Tensor> single;
      if (!call_backward(one, kNaN, single, "backward with only din[i]")) {
        ok = false;
        continue;
      }
      double scale = 0, worst = 0;
      int64_t at = 0;
      for (int64_t k = 0; k < grad_[i].numel(); ++k) {
        scale = std::max(scale, std::fabs(static_cast<double>(grad_[i].data()[k])));
        const double d = std::fabs(static_cast<double>(single[i].data()[k]) - grad_[i].data()[k]);
        if (std::isnan(d) || d > worst) worst = std::isnan(d) ? HUGE_VAL : d, at = k;
      }
      if (!(worst <= 1e-5 * (1 + scale)) || !guard_intact(single[i]))
        fail("backward with only din[", i, "] requested gives ", single[i].data()[at], " at ",
             coords(x_[i].shape(), at), " but ", grad_[i].data()[at], " with all requested"),
            ok = false;
    }
    if (!same_bits(dy_.data(), dy_host.data(), dy_.numel())) fail("backward modified dy"), ok = false;
    return inputs_untouched(host, "backward") && ok;
  }

  void check_gradient(int i) {
    Tensor& xi = x_[i];
    const double step = fd_step(c_, i);
    const std::vector<int64_t> idx = sample_indices(xi.numel(), seed_ + static_cast<uint64_t>(i));
    std::vector<double> numeric;
    Tensor y = guarded(out_shape_, 0.f, kSentinel);
    double scale = 0;
    for (int64_t k : idx) {
      const float orig = xi.data()[k];
      const float hi = static_cast<float>(orig + step), lo = static_cast<float>(orig - step);
      xi.data()[k] = hi;
      const bool ok_hi = call_forward(y, "perturbed forward");
      const double l_hi = weighted_sum(y, dy_);
      xi.data()[k] = lo;
      const bool ok_lo = call_forward(y, "perturbed forward");
      const double l_lo = weighted_sum(y, dy_);
      xi.data()[k] = orig;
      if (!ok_hi || !ok_lo) return;
      // Divide by the step actually taken after rounding to float.
      numeric.push_back((l_hi - l_lo) / (static_cast<double>(hi) - lo));
      scale = std::max({scale, std::fabs(numeric.back()), std::fabs(static_cast<double>(grad_[i].data()[k]))});
    }
    const double tol = c_.atol + c_.rtol * scale;
    for (size_t s = 0; s < idx.size(); ++s) {
      const double analytic = grad_[i].data()[idx[s]];
      if (!(std::fabs(analytic - numeric[s]) <= tol))
        fail("d/d input ", i, " ", shape_str(xi.shape()), " at ", coords(xi.shape(), idx[s]), ": analytic ", analytic,
             ", numeric ", numeric[s], " (tol ", tol, ", step ", step, ")");
    }
  }

  const OpCase& c_;
  const OpInfo& info_;
  const uint64_t seed_;
  std::vector<Tensor> x_;  // guarded inputs, perturbed in place by the gradient check
  Inputs in_;
  Shape out_shape_;
  Tensor y_, dy_;
  std::vector<Tensor> grad_;  // analytic gradients, all requested at once
  int failures_ = 0;
  std::ostringstream report_;
};

// One registered test per case, so `eyecandy_tests op_table.conv2d` runs just those.
const bool registered = [] {
  for (const OpCase& c : op_cases())
    registry().push_back({"op_table." + c.name, __FILE__, [c] { CaseChecker(c).run(); }});
  return true;
}();

}  // namespace
}  // namespace ec::test

using namespace ec;
using ec::test::OpCase;

TEST(op_table_covers_every_op) {
  std::vector<int> count(kOpCount, 0);
  for (const OpCase& c : test::op_cases()) ++count[static_cast<int>(c.call.op)];
  std::string missing;
  for (int k = 0; k < kOpCount; ++k)
    if (!count[k]) missing += std::string(missing.empty() ? "" : ", ") + op_name(static_cast<Op>(k));
  if (!missing.empty()) EC_FAIL("ops without an op_table case: " << missing);
}

TEST(op_table_cases_are_well_formed) {
  std::vector<std::string> names;
  for (const OpCase& c : test::op_cases()) {
    names.push_back(c.name);
    if (c.name.rfind(std::string(op_name(c.call.op)) + ".", 0) != 0) EC_FAIL(c.name << " does not start with its op");
    Shape out;
    try {
      out = infer_shape(c.call, c.shapes());
    } catch (const Error& e) {
      EC_FAIL(c.name << " is rejected by infer_shape: " << e.what());
    }
    int64_t total = shape_numel(out);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const test::InputSpec& s = c.inputs[i];
      total += shape_numel(s.shape);
      if (!(s.lo < s.hi)) EC_FAIL(c.name << " input " << i << " has an empty range");
      if (s.gen == test::Gen::Positive && !(s.lo > 0)) EC_FAIL(c.name << " input " << i << " is not positive");
      if (s.gen == test::Gen::AwayFromKinks && c.kinks.empty()) EC_FAIL(c.name << " names no kinks");
    }
    if (total > 1000) EC_FAIL(c.name << " is not tiny: " << total << " elements");
  }
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end()) EC_FAIL("duplicate case name " << *dup);
}

TEST(op_table_inputs_are_reproducible) {
  for (const OpCase& c : test::op_cases()) {
    const uint64_t seed = test::name_seed(c.name);
    const std::vector<Tensor> a = test::make_inputs(c, seed), b = test::make_inputs(c, seed);
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(std::memcmp(a[i].data(), b[i].data(), a[i].numel() * sizeof(float)) == 0);
      const test::InputSpec& s = c.inputs[i];
      std::vector<float> v(a[i].data(), a[i].data() + a[i].numel());
      for (float f : v)
        if (!(f >= s.lo && f <= s.hi)) EC_FAIL(c.name << " input " << i << " value " << f << " is out of range");
      if (s.gen == test::Gen::Distinct) {
        // Neighbours in sorted order are further apart than two steps, so no step reorders them.
        std::sort(v.begin(), v.end());
        for (size_t k = 1; k < v.size(); ++k)
          if (!(v[k] - v[k - 1] > 2 * test::fd_step(c, static_cast<int>(i))))
            EC_FAIL(c.name << " input " << i << " has values " << v[k - 1] << " and " << v[k] << " too close");
      }
      if (s.gen == test::Gen::AwayFromKinks)
        for (float f : v)
          for (float kink : c.kinks)
            if (!(std::fabs(f - kink) > test::kink_margin(c, static_cast<int>(i))))
              EC_FAIL(c.name << " input " << i << " value " << f << " is near kink " << kink);
    }
  }
}

TEST(op_table_error_texts) {
  auto call = [](Op op, Attrs attrs = NoAttrs{}) { return OpCall{op, std::move(attrs)}; };
  CHECK_THROWS(infer_shape(call(Op::Conv2d, Conv2dAttrs{}), {{1, 5, 5, 3}, {3, 3, 4, 2}}),
               "conv2d: input has 3 channels but filter expects 4");
  CHECK_THROWS(infer_shape(call(Op::Conv2d, Conv2dAttrs{}), {{1, 5, 5, 3}}),
               "conv2d: expected 2 to 3 inputs but received 1");
  CHECK_THROWS(infer_shape(call(Op::Conv2d, Conv2dAttrs{}), {{1, 5, 5, 4}, {3, 3, 4, 2}, {3}}),
               "conv2d: bias must have shape [2] but has [3]");
  CHECK_THROWS(infer_shape(call(Op::Reshape, ReshapeAttrs{{2, -2}}), {{2, 3}}),
               "reshape: target [2,-2] has a negative dimension");
  CHECK_THROWS(infer_shape(call(Op::Reshape, ReshapeAttrs{{-1, -1}}), {{2, 3}}),
               "reshape: target [-1,-1] has more than one -1");
  CHECK_THROWS(infer_shape(call(Op::Reshape, ReshapeAttrs{{4}}), {{2, 3}}),
               "reshape: cannot reshape [2,3] (6 elements) to [4]");
  PadAttrs two_pads;
  two_pads.pads = {1, 1};
  CHECK_THROWS(infer_shape(call(Op::Pad, two_pads), {{1, 2, 2, 1}}),
               "pad: expected 8 pad values for input [1,2,2,1] but received 2");
  PadAttrs reflect;
  reflect.kind = PadKind::Reflect;
  reflect.pads = {3, 0, 0, 0};
  CHECK_THROWS(infer_shape(call(Op::Pad, reflect), {{3, 4}}), "pad: reflect padding of 3 needs dimension 0 larger than 3");
  CHECK_THROWS(infer_shape(call(Op::MseLoss), {{2, 3}, {3, 2}}),
               "mse_loss: prediction [2,3] and target [3,2] must have the same shape");
  CHECK_THROWS(infer_shape(call(Op::Add), {{2, 3}, {4}}), "add: shapes [2,3] and [4] do not broadcast (dimension 1: 3 vs 4)");
  CHECK_THROWS(infer_shape(call(Op::BatchNorm, BatchNormAttrs{}), {{2, 3}, {3}, {3}}),
               "batch_norm: expected 5 inputs but received 3");
  CHECK_THROWS(infer_shape(call(Op::Concat, AxisAttrs{0}), {}), "concat: expected at least 1 inputs but received 0");
  CHECK_THROWS(infer_shape(call(Op::Softmax, AxisAttrs{3}), {{2, 3, 4}}),
               "softmax: axis 3 is out of range for rank 3 (expected -3..2)");
  PoolAttrs big;
  big.win.kernel_h = big.win.kernel_w = 5;
  CHECK_THROWS(infer_shape(call(Op::MaxPool, big), {{1, 3, 6, 1}}),
               "max_pool: window of 5 does not fit input height 3 padded to 3");
  CHECK_THROWS(infer_shape(call(Op::Clip, ClipAttrs{2.f, 1.f}), {{3}}), "clip: expected min <= max");
}

TEST(op_table_names_round_trip) {
  for (int k = 0; k < kOpCount; ++k) {
    const Op op = static_cast<Op>(k);
    if (op_from_name(op_name(op)) != op) EC_FAIL(op_name(op) << " does not map back to its op");
    const OpInfo& info = op_info(op);
    if (info.window() && !info.spatial()) EC_FAIL(info.name << " has a window but is not spatial");
    if (info.pointwise() && !info.spatial()) EC_FAIL(info.name << " is pointwise but not spatial");
  }
  CHECK(op_from_name("no_such_op") == Op::COUNT);
}

// A pointwise op's output element k depends on input element k alone: nudging
// one input element moves that output element and no other.
TEST(op_table_pointwise_flag_holds) {
  int checked = 0;
  for (const OpCase& c : test::op_cases()) {
    if (!op_info(c.call.op).pointwise()) continue;
    ++checked;
    CHECK(c.inputs.size() == 1);
    std::vector<Tensor> x = test::make_inputs(c, test::name_seed(c.name));
    Tensor y0(infer_shape(c.call, c.shapes()));
    CHECK(y0.shape() == x[0].shape());
    cpu::forward(c.call, {&x[0]}, y0);
    const int64_t n = x[0].numel();
    for (int64_t k = 0; k < n; k += std::max<int64_t>(1, n / 7)) {
      Tensor xk = x[0].clone();
      xk.data()[k] += 0.125f;
      Tensor yk(y0.shape());
      cpu::forward(c.call, {&xk}, yk);
      for (int64_t j = 0; j < n; ++j)
        if (j != k && yk.data()[j] != y0.data()[j]) EC_FAIL(c.name << ": input " << k << " moved output " << j);
    }
  }
  CHECK(checked > 0);
}
