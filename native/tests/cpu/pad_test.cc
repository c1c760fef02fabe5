// Pad: hand-computed constant/reflect/edge cases, their backward passes, and
// a large case against a per-element reference.
#include <cmath>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


OpCall pad(PadKind kind, std::vector<int64_t> pads, float value = 0.f) {
  PadAttrs a;
  a.kind = kind;
  a.value = value;
  a.pads = std::move(pads);
  return OpCall{Op::Pad, a};
}

}  // namespace

TEST(cpu_pad_1d_kinds) {
  const Tensor x = Tensor::from({3}, {1, 2, 3});
  expect(run(cpu::pad_forward, pad(PadKind::Reflect, {2, 2}), {x}), {3, 2, 1, 2, 3, 2, 1});
  expect(run(cpu::pad_forward, pad(PadKind::Edge, {2, 2}), {x}), {1, 1, 1, 2, 3, 3, 3});
  expect(run(cpu::pad_forward, pad(PadKind::Constant, {1, 2}, 9.f), {x}), {9, 1, 2, 3, 9, 9});
  expect(run(cpu::pad_forward, pad(PadKind::Reflect, {0, 0}), {Tensor::from({1}, {5})}), {5});
  // Rank 0: nothing to pad.
  expect(run(cpu::pad_forward, pad(PadKind::Edge, {}), {Tensor::from({}, {4})}), {4});
}

TEST(cpu_pad_2d_kinds) {
  const Tensor x = Tensor::from({2, 2}, {1, 2, 3, 4});
  // One row before, one column after.
  expect(run(cpu::pad_forward, pad(PadKind::Constant, {1, 0, 0, 1}), {x}), {0, 0, 0, 1, 2, 0, 3, 4, 0});
  expect(run(cpu::pad_forward, pad(PadKind::Edge, {1, 1, 1, 1}), {x}),
         {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  const Tensor x3 = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = run(cpu::pad_forward, pad(PadKind::Reflect, {1, 1, 1, 1}), {x3});
  CHECK(y.shape() == Shape({4, 5}));
  expect(y, {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2});
  // A constant pad around an empty dimension is all value.
  expect(run(cpu::pad_forward, pad(PadKind::Constant, {0, 1, 0, 1}, 7.f), {Tensor({2, 0})}), {7, 7, 7, 7});
}

TEST(cpu_pad_backward_hand_case) {
  const Tensor x = Tensor::from({3}, {1, 2, 3});
  const Tensor dy = Tensor::from({7}, {1, 10, 100, 1000, 10000, 100000, 1000000});
  // Reflect reads sources 2,1,0,1,2,1,0; edge reads 0,0,0,1,2,2,2.
  expect(grads(cpu::pad_backward, pad(PadKind::Reflect, {2, 2}), {x}, Tensor(), dy)[0], {1000100, 101010, 10001});
  expect(grads(cpu::pad_backward, pad(PadKind::Edge, {2, 2}), {x}, Tensor(), dy)[0], {111, 1000, 1110000});
  expect(grads(cpu::pad_backward, pad(PadKind::Constant, {1, 3}), {x}, Tensor(), dy)[0], {10, 100, 1000});
  // 2-D edge: each corner cell gathers its 2x2 block of dy.
  Tensor dy2({4, 4});
  dy2.fill(1.f);
  expect(grads(cpu::pad_backward, pad(PadKind::Edge, {1, 1, 1, 1}), {Tensor({2, 2})}, Tensor(), dy2)[0], {4, 4, 4, 4});
}

TEST(cpu_pad_grad) {
  const Shape s = {2, 3, 4, 3};
  for (PadKind kind : {PadKind::Constant, PadKind::Reflect, PadKind::Edge}) {
    check_grads(cpu::pad_forward, cpu::pad_backward, pad(kind, {1, 2, 0, 2, 0, 1, 3, 1}, 0.5f), {wave(s)});
    check_grads(cpu::pad_forward, cpu::pad_backward, pad(kind, {0, 0, 0, 0, 1, 0, 1, 2}), {wave(s)});
    check_grads(cpu::pad_forward, cpu::pad_backward, pad(kind, {2, 1}), {wave({4})});
  }
}

TEST(cpu_pad_matches_reference_on_large_input) {
  // Enough rows for several threads; every element checked against its own index map.
  const Shape s = {3, 37, 29, 6};
  const std::vector<int64_t> p = {1, 3, 2, 4, 0, 2, 5, 3};
  const Tensor x = wave(s);
  for (PadKind kind : {PadKind::Constant, PadKind::Reflect, PadKind::Edge}) {
    const Tensor y = run(cpu::pad_forward, pad(kind, p, -2.f), {x});
    const Shape o = y.shape();
    int64_t i = 0;
    for (int64_t a = 0; a < o[0]; ++a)
      for (int64_t b = 0; b < o[1]; ++b)
        for (int64_t c = 0; c < o[2]; ++c)
          for (int64_t d = 0; d < o[3]; ++d, ++i) {
            const int64_t out_idx[4] = {a, b, c, d};
            int64_t src = 0;
            bool inside = true;
            for (int k = 0; k < 4; ++k) {
              int64_t v = out_idx[k] - p[k];
              const int64_t n = s[k];
              if (kind == PadKind::Reflect) v = v < 0 ? -v : (v >= n ? 2 * n - 2 - v : v);
              if (kind == PadKind::Edge) v = v < 0 ? 0 : (v >= n ? n - 1 : v);
              inside = inside && v >= 0 && v < n;
              src = src * n + v;
            }
            CHECK(y.data()[i] == (inside ? x.data()[src] : -2.f));
          }
  }
}
