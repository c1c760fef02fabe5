// Softmax and log-softmax: hand-computed values, stability at large inputs,
// other axes against a naive double-precision reference, and gradients.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


const OpCall kSoftmax{Op::Softmax, AxisAttrs{-1}}, kLogSoftmax{Op::LogSoftmax, AxisAttrs{-1}};

// Softmax along `axis` computed the slow, obvious way in double.
Tensor naive_softmax(const Tensor& x, int axis, bool log) {
  Tensor y(x.shape());
  int64_t outer = 1, n = x.dim(axis), inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      double mx = -1e300, sum = 0;
      for (int64_t a = 0; a < n; ++a) mx = std::max(mx, double(x.data()[(o * n + a) * inner + j]));
      for (int64_t a = 0; a < n; ++a) sum += std::exp(x.data()[(o * n + a) * inner + j] - mx);
      for (int64_t a = 0; a < n; ++a) {
        const double v = x.data()[(o * n + a) * inner + j] - mx;
        y.data()[(o * n + a) * inner + j] = float(log ? v - std::log(sum) : std::exp(v) / sum);
      }
    }
  return y;
}

}  // namespace

TEST(softmax_hand) {
  const Tensor x = Tensor::from({3}, {1, 2, 3});
  check_values(run(cpu::softmax_forward, kSoftmax, {x}), {0.09003057f, 0.24472847f, 0.66524096f});
  check_values(run(cpu::log_softmax_forward, kLogSoftmax, {x}), {-2.40760596f, -1.40760596f, -0.40760596f});
  // Shifting by 1000 would overflow exp without the max subtraction.
  const Tensor big = Tensor::from({3}, {1001, 1002, 1003});
  check_values(run(cpu::softmax_forward, kSoftmax, {big}), {0.09003057f, 0.24472847f, 0.66524096f});
  check_values(run(cpu::log_softmax_forward, kLogSoftmax, {big}), {-2.40760596f, -1.40760596f, -0.40760596f}, 1e-4);
  const Tensor neg = Tensor::from({2}, {-1000, -1000});
  check_values(run(cpu::softmax_forward, kSoftmax, {neg}), {0.5f, 0.5f});
}

TEST(softmax_axis0_hand) {
  // Columns [1,2,3] and [0,0,0] of a [3,2] tensor, softmax down each column.
  const Tensor x = Tensor::from({3, 2}, {1, 0, 2, 0, 3, 0});
  const float t = 1.f / 3.f;
  check_values(run(cpu::softmax_forward, {Op::Softmax, AxisAttrs{0}}, {x}),
               {0.09003057f, t, 0.24472847f, t, 0.66524096f, t});
  check_values(run(cpu::log_softmax_forward, {Op::LogSoftmax, AxisAttrs{-2}}, {x}),
               {-2.40760596f, -1.09861229f, -1.40760596f, -1.09861229f, -0.40760596f, -1.09861229f});
}

TEST(softmax_backward_hand) {
  const Tensor x = Tensor::from({3}, {1, 2, 3}), dy = Tensor::from({3}, {1, 0, 0});
  // dx = y * (dy - y0) = [y0(1-y0), -y1 y0, -y2 y0].
  auto g = run_backward(cpu::softmax_forward, cpu::softmax_backward, kSoftmax, {x}, dy);
  check_values(g[0], {0.08192507f, -0.02203304f, -0.05989202f});
  // dx = dy - softmax(x) * sum(dy).
  g = run_backward(cpu::log_softmax_forward, cpu::log_softmax_backward, kLogSoftmax, {x}, dy);
  check_values(g[0], {0.90996943f, -0.24472847f, -0.66524096f});
}

// Inner extents below, at and above the panel width, several outer items.
TEST(softmax_matches_reference) {
  const std::vector<std::pair<Shape, int>> cases = {
      {{4, 10}, -1}, {{2, 3, 100}, 1}, {{3, 5, 64}, 1}, {{2, 7, 3, 2}, 1}, {{129, 2}, 0}, {{300, 257}, -1}};
  uint32_t seed = 20;
  for (const auto& [shape, axis] : cases) {
    const Tensor x = Tensor::from(shape, values(shape_numel(shape), -5.f, 5.f, ++seed));
    const int ax = normalize_axis("test", axis, static_cast<int>(shape.size()));
    const Tensor y = run(cpu::softmax_forward, {Op::Softmax, AxisAttrs{axis}}, {x});
    const Tensor l = run(cpu::log_softmax_forward, {Op::LogSoftmax, AxisAttrs{axis}}, {x});
    const Tensor ry = naive_softmax(x, ax, false), rl = naive_softmax(x, ax, true);
    for (int64_t i = 0; i < x.numel(); ++i) {
      CHECK_NEAR(y.data()[i], ry.data()[i], 1e-6);
      CHECK_NEAR(l.data()[i], rl.data()[i], 1e-5);
    }
  }
}

TEST(softmax_grads) {
  for (int axis : {-1, 1, 0}) {
    const Tensor x = Tensor::from({2, 3, 4}, values(24, -2.f, 2.f, 30 + axis));
    check_grad(cpu::softmax_forward, cpu::softmax_backward, {Op::Softmax, AxisAttrs{axis}}, {x.clone()}, 1e-2, 1e-2);
    check_grad(cpu::log_softmax_forward, cpu::log_softmax_backward, {Op::LogSoftmax, AxisAttrs{axis}}, {x.clone()},
               1e-2, 1e-2);
  }
}
