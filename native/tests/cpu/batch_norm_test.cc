// Inference batch norm: a hand-computed case, gradients of all five inputs,
// and partial gradient requests (null din entries).
#include <cmath>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


OpCall bn(float eps) { return OpCall{Op::BatchNorm, BatchNormAttrs{eps}}; }

}  // namespace

TEST(cpu_batch_norm_hand_case) {
  // eps 0: 1/sqrt(var) = 0.5 and 2.
  const Tensor x = Tensor::from({2, 2}, {1, 2, 3, 4});
  const Tensor scale = Tensor::from({2}, {2, 0.5f}), bias = Tensor::from({2}, {0.1f, -1});
  const Tensor mean = Tensor::from({2}, {2, 1}), var = Tensor::from({2}, {4, 0.25f});
  const OpCall call = bn(0.f);
  const Tensor y = run(cpu::batch_norm_forward, call, {x, scale, bias, mean, var});
  expect(y, {-0.9f, 0, 1.1f, 2});
  // dy = [[1,2],[3,4]]: x - mean = [[-1,1],[1,3]].
  const Tensor dy = Tensor::from({2, 2}, {1, 2, 3, 4});
  const std::vector<Tensor> g = grads(cpu::batch_norm_backward, call, {x, scale, bias, mean, var}, y, dy);
  expect(g[0], {1, 2, 3, 4});        // dy * scale / sqrt(var) = dy * 1
  expect(g[1], {1, 28});             // sum dy (x-mean) / sqrt(var): (-1+3)*0.5, (2+12)*2
  expect(g[2], {4, 6});              // sum dy
  expect(g[3], {-4, -6});            // -sum dy * scale / sqrt(var)
  expect(g[4], {-0.25f, -28});      // -1/2 scale var^-3/2 sum dy (x-mean): -0.5*2*0.125*2, -0.5*0.5*8*14
  // epsilon enters under the root.
  expect(run(cpu::batch_norm_forward, bn(5.f), {Tensor::from({1}, {7}), Tensor::from({1}, {3}),
                                                 Tensor::from({1}, {0}), Tensor::from({1}, {1}),
                                                 Tensor::from({1}, {4})}),
         {3.f * 6.f / 3.f});
}

TEST(cpu_batch_norm_grad) {
  const Tensor scale = wave({3}, 1.f, 0.2f), bias = wave({3}, 0.5f), mean = wave({3}, 0.3f, 0.1f);
  const Tensor var = wave({3}, 0.4f, 1.f);
  check_grads(cpu::batch_norm_forward, cpu::batch_norm_backward, bn(1e-3f),
              {wave({2, 2, 2, 3}, 2.f), scale, bias, mean, var}, 1e-3f);
}

TEST(cpu_batch_norm_partial_grads) {
  // Many rows (several reduction chunks, several threads) and only some gradients asked for.
  const Tensor x = wave({4, 50, 40, 5}, 2.f, 0.5f);
  const Tensor scale = wave({5}, 1.f, 0.2f), bias = wave({5}, 0.5f), mean = wave({5}, 0.3f, 0.1f);
  const Tensor var = wave({5}, 0.4f, 1.f);
  const OpCall call = bn(1e-5f);
  const Tensor y = run(cpu::batch_norm_forward, call, {x, scale, bias, mean, var});
  const Tensor dy = wave(x.shape(), 1.f, 0.25f);
  const std::vector<Tensor> all = grads(cpu::batch_norm_backward, call, {x, scale, bias, mean, var}, y, dy);
  Tensor dscale(Shape{5}), dvar(Shape{5});
  const Inputs in = {&x, &scale, &bias, &mean, &var};
  cpu::batch_norm_backward(call, in, Tensor(), dy, {nullptr, &dscale, nullptr, nullptr, &dvar});
  for (int c = 0; c < 5; ++c) {
    CHECK(dscale.data()[c] == all[1].data()[c]);
    CHECK(dvar.data()[c] == all[4].data()[c]);
  }
  // Cross-check the reductions in double.
  for (int c = 0; c < 5; ++c) {
    double sdy = 0, sdxc = 0;
    for (int64_t i = c; i < x.numel(); i += 5) {
      sdy += dy.data()[i];
      sdxc += static_cast<double>(dy.data()[i]) * (x.data()[i] - mean.data()[c]);
    }
    const double r = 1.0 / std::sqrt(static_cast<double>(var.data()[c]) + 1e-5);
    CHECK_NEAR(all[2].data()[c], sdy, 1e-6 * (1 + std::fabs(sdy)));
    CHECK_NEAR(all[1].data()[c], sdxc * r, 1e-5 * (1 + std::fabs(sdxc * r)));
  }
}
