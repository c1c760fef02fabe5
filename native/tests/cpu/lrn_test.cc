// LRN across channels: hand-computed ONNX values and finite-difference gradients.
#include <cmath>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


OpCall lrn(int size, float alpha, float beta, float bias) { return OpCall{Op::Lrn, LrnAttrs{size, alpha, beta, bias}}; }

}  // namespace

TEST(cpu_lrn_hand_case) {
  // size 3, alpha/size = 0.1: square sums 1+4, 1+4+9, 4+9 -> scales 1.5, 2.4, 2.3; y = x * s^-0.75.
  const Tensor x = Tensor::from({1, 1, 1, 3}, {1, 2, 3});
  expect(run(cpu::lrn_forward, lrn(3, 0.3f, 0.75f, 1.f), {x}), {0.7377879f, 1.0372216f, 1.6062953f});
  // Even size 2 takes one channel after (ONNX: floor below, ceil above): sums 1+4, 4+9, 9.
  expect(run(cpu::lrn_forward, lrn(2, 0.2f, 0.5f, 2.f), {x}), {0.6324555f, 1.1009638f, 1.7616607f});
  // A window wider than C clips to the row.
  const Tensor x5 = Tensor::from({5}, {1, -2, 3, 0.5f, -1});
  expect(run(cpu::lrn_forward, lrn(5, 0.1f, 0.75f, 1.f), {x5}),
         {0.8309837f, -1.6571150f, 2.4570465f, 0.4142788f, -0.8694802f});
}

TEST(cpu_lrn_rows_are_independent) {
  // The same channel vector in every pixel gives the same result in every pixel.
  std::vector<float> v;
  for (int p = 0; p < 6; ++p) v.insert(v.end(), {1, 2, 3});
  const Tensor y = run(cpu::lrn_forward, lrn(3, 0.3f, 0.75f, 1.f), {Tensor::from({2, 3, 1, 3}, v)});
  for (int p = 0; p < 6; ++p) expect(Tensor::from({3}, {y.data()[3 * p], y.data()[3 * p + 1], y.data()[3 * p + 2]}),
                                     {0.7377879f, 1.0372216f, 1.6062953f});
}

TEST(cpu_lrn_grad) {
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(3, 0.3f, 0.75f, 1.f), {wave({1, 2, 2, 7}, 1.5f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(4, 0.5f, 0.6f, 2.f), {wave({2, 1, 2, 9}, 2.f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(5, 1e-4f, 0.75f, 1.f), {wave({1, 1, 3, 6}, 3.f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(1, 1.f, 1.f, 1.f), {wave({4, 3}, 1.f)}, 1e-3f);
}
