// Activation kernels: hand-computed values and finite-difference gradients.
#include <cmath>
#include <cstdint>
#include <vector>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


// Random values whose magnitude is at least `gap`, so no sample sits on a kink at 0.
Tensor away_from_zero(const Shape& s, float gap, uint32_t seed) {
  std::vector<float> v = values(shape_numel(s), -1.f, 1.f, seed);
  for (float& x : v) x = x < 0 ? x - gap : x + gap;
  return Tensor::from(s, v);
}

}  // namespace

TEST(act_relu_hand) {
  const OpCall call{Op::Relu, NoAttrs{}};
  const Tensor x = Tensor::from({4}, {-2.f, -0.5f, 0.f, 1.5f});
  check_values(run(cpu::relu_forward, call, {x}), {0, 0, 0, 1.5f});
  const auto g = run_backward(cpu::relu_forward, cpu::relu_backward, call, {x}, Tensor::from({4}, {1, 2, 3, 4}));
  check_values(g[0], {0, 0, 0, 4});
}

TEST(act_clip_hand) {
  const OpCall call{Op::Clip, ClipAttrs{0.f, 6.f}};
  const Tensor x = Tensor::from({5}, {-1.f, 0.f, 3.f, 6.f, 7.f});
  check_values(run(cpu::clip_forward, call, {x}), {0, 0, 3, 6, 6});
  const auto g = run_backward(cpu::clip_forward, cpu::clip_backward, call, {x}, Tensor::from({5}, {1, 1, 1, 1, 1}));
  check_values(g[0], {0, 0, 1, 0, 0});  // zero at both bounds
}

TEST(act_leaky_relu_hand) {
  const OpCall call{Op::LeakyRelu, LeakyReluAttrs{0.1f}};
  const Tensor x = Tensor::from({3}, {-2.f, 3.f, -0.5f});
  check_values(run(cpu::leaky_relu_forward, call, {x}), {-0.2f, 3.f, -0.05f});
  const auto g = run_backward(cpu::leaky_relu_forward, cpu::leaky_relu_backward, call, {x},
                              Tensor::from({3}, {1.f, 1.f, 2.f}));
  check_values(g[0], {0.1f, 1.f, 0.2f});
}

TEST(act_sigmoid_tanh_hand) {
  const Tensor x = Tensor::from({4}, {0.f, 2.f, -100.f, 100.f});
  check_values(run(cpu::sigmoid_forward, {Op::Sigmoid, NoAttrs{}}, {x}), {0.5f, 0.88079708f, 0.f, 1.f});
  check_values(run(cpu::tanh_forward, {Op::Tanh, NoAttrs{}}, {x}), {0.f, 0.96402758f, -1.f, 1.f});
  // sigmoid'(0) = 0.25, tanh'(0) = 1; both vanish (not NaN) when saturated.
  const Tensor dy = Tensor::from({4}, {1, 1, 1, 1});
  const auto gs = run_backward(cpu::sigmoid_forward, cpu::sigmoid_backward, {Op::Sigmoid, NoAttrs{}}, {x}, dy);
  check_values(gs[0], {0.25f, 0.10499359f, 0.f, 0.f});
  const auto gt = run_backward(cpu::tanh_forward, cpu::tanh_backward, {Op::Tanh, NoAttrs{}}, {x}, dy);
  check_values(gt[0], {1.f, 0.07065082f, 0.f, 0.f});
}

// Large enough to be split across the thread pool; every element must be written.
TEST(act_large_parallel) {
  const int64_t n = 100003;
  const Tensor x = Tensor::from({n}, values(n, -3.f, 3.f, 5));
  const Tensor y = run(cpu::clip_forward, {Op::Clip, ClipAttrs{-1.f, 2.f}}, {x});
  const Tensor s = run(cpu::sigmoid_forward, {Op::Sigmoid, NoAttrs{}}, {x});
  for (int64_t i = 0; i < n; ++i) {
    CHECK_NEAR(y.data()[i], std::min(2.f, std::max(-1.f, x.data()[i])), 0);
    CHECK_NEAR(s.data()[i], 1.0 / (1.0 + std::exp(-double(x.data()[i]))), 1e-6);
  }
}

TEST(act_relu_grad) {
  check_grad(cpu::relu_forward, cpu::relu_backward, {Op::Relu, NoAttrs{}}, {away_from_zero({2, 3, 4}, 0.1f, 1)},
             1e-2, 1e-2);
}

TEST(act_clip_grad) {
  // Bounds at +-0.5; samples keep >= 0.05 away from both.
  const Tensor x = Tensor::from({8}, {-0.9f, -0.3f, 0.1f, 0.35f, 0.7f, -0.65f, 0.2f, 1.4f});
  check_grad(cpu::clip_forward, cpu::clip_backward, {Op::Clip, ClipAttrs{-0.5f, 0.5f}}, {x}, 1e-2, 1e-2);
}

TEST(act_leaky_relu_grad) {
  check_grad(cpu::leaky_relu_forward, cpu::leaky_relu_backward, {Op::LeakyRelu, LeakyReluAttrs{0.2f}},
             {away_from_zero({3, 5}, 0.1f, 2)}, 1e-2, 1e-2);
}

TEST(act_sigmoid_tanh_grad) {
  const Tensor x = Tensor::from({2, 6}, values(12, -3.f, 3.f, 3));
  check_grad(cpu::sigmoid_forward, cpu::sigmoid_backward, {Op::Sigmoid, NoAttrs{}}, {x.clone()}, 1e-2, 1e-2);
  check_grad(cpu::tanh_forward, cpu::tanh_backward, {Op::Tanh, NoAttrs{}}, {x.clone()}, 1e-2, 1e-2);
}
