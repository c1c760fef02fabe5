// Scalar losses: hand-computed values and gradients, the rms == 0 guard,
// parallel block sums over a large input, and finite-difference gradients.
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


const OpCall kMse{Op::MseLoss, NoAttrs{}}, kRms{Op::RmsLoss, NoAttrs{}}, kSumSq{Op::SumSquares, NoAttrs{}};

}  // namespace

TEST(loss_hand) {
  // a - b = [-1, 0, 2, 4]: squares sum to 21, mean 5.25.
  const Tensor a = Tensor::from({4}, {1, 2, 3, 4}), b = Tensor::from({4}, {2, 2, 1, 0});
  const Tensor mse = run(cpu::mse_loss_forward, kMse, {a, b});
  CHECK(mse.shape().empty() && mse.numel() == 1);
  check_values(mse, {5.25f});
  check_values(run(cpu::rms_loss_forward, kRms, {a, b}), {2.29128784f});
  check_values(run(cpu::sum_squares_forward, kSumSq, {Tensor::from({2, 2}, {1, 2, 3, 4})}), {30});
  check_values(run(cpu::sum_squares_forward, kSumSq, {Tensor(Shape{0, 3})}), {0});
}

TEST(loss_backward_hand) {
  const Tensor a = Tensor::from({4}, {1, 2, 3, 4}), b = Tensor::from({4}, {2, 2, 1, 0});
  const Tensor one = Tensor::from({}, {1});
  // mse: da = 2(a-b)/n, db = -da.
  auto g = run_backward(cpu::mse_loss_forward, cpu::mse_loss_backward, kMse, {a, b}, one);
  check_values(g[0], {-0.5f, 0, 1, 2});
  check_values(g[1], {0.5f, 0, -1, -2});
  // rms: da = (a-b)/(n*rms), with dy = 2 doubling it; only db wanted.
  g = run_backward(cpu::rms_loss_forward, cpu::rms_loss_backward, kRms, {a, b}, Tensor::from({}, {2}), {false, true});
  check_values(g[1], {0.2182179f, 0, -0.4364358f, -0.8728716f});
  CHECK(std::isnan(g[0].data()[0]));
  // sum_squares: dx = 2 x dy.
  g = run_backward(cpu::sum_squares_forward, cpu::sum_squares_backward, kSumSq, {a}, Tensor::from({}, {0.5f}));
  check_values(g[0], {1, 2, 3, 4});
}

TEST(loss_rms_zero) {
  // a == b: rms is 0 and its derivative does not exist; the kernel returns 0, not NaN.
  const Tensor a = Tensor::from({3}, {1, -2, 3});
  check_values(run(cpu::rms_loss_forward, kRms, {a, a.clone()}), {0});
  const Tensor one = Tensor::from({}, {1});
  const auto g = run_backward(cpu::rms_loss_forward, cpu::rms_loss_backward, kRms, {a, a.clone()}, one);
  check_values(g[0], {0, 0, 0});
  check_values(g[1], {0, 0, 0});
}

// Many blocks summed in parallel; double accumulation keeps these exact.
TEST(loss_large) {
  const int64_t n = 300001;
  const Tensor a = Tensor::from({n}, std::vector<float>(n, 1.5f)), b = Tensor::from({n}, std::vector<float>(n, 1.f));
  check_values(run(cpu::mse_loss_forward, kMse, {a, b}), {0.25f}, 1e-7);
  check_values(run(cpu::rms_loss_forward, kRms, {a, b}), {0.5f}, 1e-7);
  check_values(run(cpu::sum_squares_forward, kSumSq, {b}), {float(n)}, 0);
  const auto g = run_backward(cpu::mse_loss_forward, cpu::mse_loss_backward, kMse, {a, b}, Tensor::from({}, {1}));
  for (int64_t i = 0; i < n; i += 997) CHECK_NEAR(g[0].data()[i], 1.0 / n, 1e-12);
}

TEST(loss_grads) {
  const Tensor a = Tensor::from({2, 3}, values(6, -1.f, 1.f, 50)), b = Tensor::from({2, 3}, values(6, -1.f, 1.f, 51));
  check_grad(cpu::mse_loss_forward, cpu::mse_loss_backward, kMse, {a.clone(), b.clone()}, 1e-2, 1e-2);
  check_grad(cpu::rms_loss_forward, cpu::rms_loss_backward, kRms, {a.clone(), b.clone()}, 1e-3, 1e-2);
  check_grad(cpu::sum_squares_forward, cpu::sum_squares_backward, kSumSq, {a.clone()}, 1e-2, 1e-2);
}
