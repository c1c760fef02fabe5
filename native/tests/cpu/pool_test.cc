// max/avg/global pooling: hand-computed cases and finite-difference gradients.
#include <cmath>
#include <limits>
#include <numeric>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;




// Distinct values spaced 0.1 apart (no ties within a finite-difference step).
Tensor distinct(Shape s) {
  Tensor t(std::move(s));
  const int64_t n = t.numel();
  int64_t a = 37;  // i -> i*a mod n is a permutation when gcd(a, n) == 1
  while (std::gcd(a, n) != 1) ++a;
  for (int64_t i = 0; i < n; ++i) t.data()[i] = 0.1f * static_cast<float>((i * a) % n) - 0.05f * static_cast<float>(n);
  return t;
}


OpCall pool(Op op, int k, int s, int pad, bool ceil = false, bool include_pad = false) {
  PoolAttrs a;
  a.win.kernel_h = a.win.kernel_w = k;
  a.win.stride_h = a.win.stride_w = s;
  a.win.pad_top = a.win.pad_bottom = a.win.pad_left = a.win.pad_right = pad;
  a.win.ceil_mode = ceil;
  a.count_include_pad = include_pad;
  return OpCall{op, a};
}

// A 1-row pool along W only, to keep hand cases readable.
OpCall pool_w(Op op, int k, int s, int pad, bool ceil, bool include_pad, int dilation = 1) {
  OpCall c = pool(op, 1, 1, 0, ceil, include_pad);
  auto& a = std::get<PoolAttrs>(c.attrs);
  a.win.kernel_w = k;
  a.win.stride_w = s;
  a.win.pad_left = a.win.pad_right = pad;
  a.win.dilation_w = dilation;
  return c;
}

}  // namespace

TEST(cpu_max_pool_2x2_stride2) {
  // Channel 0 holds the grid, channel 1 its negation (so its max is -min).
  const std::vector<float> grid = {1, 9, 2, 3, 5, 4, 8, 7, 16, 10, 11, 6, 12, 13, 14, 15};
  std::vector<float> v;
  for (float g : grid) v.push_back(g), v.push_back(-g);
  const Tensor x = Tensor::from({1, 4, 4, 2}, v);
  const OpCall call = pool(Op::MaxPool, 2, 2, 0);
  const Tensor y = run(cpu::max_pool_forward, call, {x});
  CHECK(y.shape() == Shape({1, 2, 2, 2}));
  expect(y, {9, -1, 8, -2, 16, -10, 15, -6});
  // dy routes to the argmax cell of each window.
  const Tensor dy = Tensor::from({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor dx = grads(cpu::max_pool_backward, call, {x}, y, dy)[0];
  std::vector<float> want(32, 0.f);
  want[1 * 2 + 0] = 1;   // 9 at (0,1)
  want[0 * 2 + 1] = 2;   // -1 at (0,0)
  want[6 * 2 + 0] = 3;   // 8 at (1,2)
  want[2 * 2 + 1] = 4;   // -2 at (0,2)
  want[8 * 2 + 0] = 5;   // 16 at (2,0)
  want[9 * 2 + 1] = 6;   // -10 at (2,1)
  want[15 * 2 + 0] = 7;  // 15 at (3,3)
  want[11 * 2 + 1] = 8;  // -6 at (2,3)
  expect(dx, want);
}

TEST(cpu_max_pool_tie_goes_to_first_cell) {
  const Tensor x = Tensor::from({1, 1, 2, 1}, {7, 7});
  const OpCall call = pool_w(Op::MaxPool, 2, 1, 0, false, false);
  const Tensor y = run(cpu::max_pool_forward, call, {x});
  expect(y, {7});
  expect(grads(cpu::max_pool_backward, call, {x}, y, Tensor::from({1, 1, 1, 1}, {3}))[0], {3, 0});
}

TEST(cpu_max_pool_same_padding_and_dilation) {
  OpCall call = pool(Op::MaxPool, 2, 2, 0);
  std::get<PoolAttrs>(call.attrs).win.pad_mode = PadMode::SameUpper;  // pads bottom/right by 1
  const Tensor x = Tensor::from({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect(run(cpu::max_pool_forward, call, {x}), {5, 6, 8, 9});
  // Taps at w and w+2.
  const Tensor x1 = Tensor::from({1, 1, 5, 1}, {3, 1, 4, 2, 5});
  expect(run(cpu::max_pool_forward, pool_w(Op::MaxPool, 2, 1, 0, false, false, 2), {x1}), {4, 2, 5});
}

TEST(cpu_max_pool_window_all_padding) {
  // Padding 1 with a 1-wide kernel: the first window sees no input cell.
  const Tensor x = Tensor::from({1, 1, 1, 1}, {-3});
  const Tensor y = run(cpu::max_pool_forward, pool_w(Op::MaxPool, 1, 1, 1, false, false), {x});
  expect(y, {std::numeric_limits<float>::lowest(), -3, std::numeric_limits<float>::lowest()}, 0);
}

TEST(cpu_avg_pool_3x3_pad1) {
  const Tensor x = Tensor::from({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect(run(cpu::avg_pool_forward, pool(Op::AvgPool, 3, 1, 1, false, true), {x}),
         {12.f / 9, 21.f / 9, 16.f / 9, 3, 5, 33.f / 9, 24.f / 9, 39.f / 9, 28.f / 9});
  expect(run(cpu::avg_pool_forward, pool(Op::AvgPool, 3, 1, 1, false, false), {x}),
         {3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7});
  // Excluding padding, dy spreads over real cells only: the corner cell sits in
  // windows of 4, 6, 6 and 9 real cells.
  const Tensor dy = Tensor::from({1, 3, 3, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  const Tensor dx = grads(cpu::avg_pool_backward, pool(Op::AvgPool, 3, 1, 1, false, false), {x}, Tensor(), dy)[0];
  CHECK_NEAR(dx.data()[0], 1.0 / 4 + 1.0 / 6 + 1.0 / 6 + 1.0 / 9, 1e-6);
  CHECK_NEAR(dx.data()[4], 4.0 / 4 + 4.0 / 6 + 1.0 / 9, 1e-6);
}

TEST(cpu_pool_ceil_mode) {
  // W=4, kernel 3, stride 2, pad 1, ceil: windows over padded cells {-1,0,1}, {1,2,3}, {3,4,5};
  // cell 5 lies past the padding and never counts.
  const Tensor x = Tensor::from({1, 1, 4, 1}, {1, 2, 3, 4});
  CHECK(infer_shape(pool_w(Op::AvgPool, 3, 2, 1, false, true), {x.shape()}) == Shape({1, 1, 2, 1}));
  expect(run(cpu::avg_pool_forward, pool_w(Op::AvgPool, 3, 2, 1, true, true), {x}), {1, 3, 2});
  expect(run(cpu::avg_pool_forward, pool_w(Op::AvgPool, 3, 2, 1, true, false), {x}), {1.5f, 3, 4});
  expect(run(cpu::max_pool_forward, pool_w(Op::MaxPool, 3, 2, 1, true, false), {x}), {2, 4, 4});
  // A window starting in the right padding is dropped: W=3, kernel 2, stride 2, pad 1.
  CHECK(infer_shape(pool_w(Op::MaxPool, 2, 2, 1, true, false), {{1, 1, 3, 1}}) == Shape({1, 1, 2, 1}));
}

TEST(cpu_global_pools) {
  // Channel 0: 1,5,3,2; channel 1: -1,-2,-3,-4.
  const Tensor x = Tensor::from({1, 2, 2, 2}, {1, -1, 5, -2, 3, -3, 2, -4});
  const OpCall avg{Op::GlobalAvgPool, NoAttrs{}}, mx{Op::GlobalMaxPool, NoAttrs{}};
  const Tensor ya = run(cpu::global_avg_pool_forward, avg, {x});
  CHECK(ya.shape() == Shape({1, 1, 1, 2}));
  expect(ya, {2.75f, -2.5f});
  const Tensor ym = run(cpu::global_max_pool_forward, mx, {x});
  expect(ym, {5, -1});
  const Tensor dy = Tensor::from({1, 1, 1, 2}, {4, 8});
  expect(grads(cpu::global_avg_pool_backward, avg, {x}, ya, dy)[0], {1, 2, 1, 2, 1, 2, 1, 2});
  expect(grads(cpu::global_max_pool_backward, mx, {x}, ym, dy)[0], {0, 8, 4, 0, 0, 0, 0, 0});
}

TEST(cpu_max_pool_grad) {
  check_grads(cpu::max_pool_forward, cpu::max_pool_backward, pool(Op::MaxPool, 3, 2, 1, true), {distinct({2, 5, 6, 3})});
  OpCall dil = pool(Op::MaxPool, 2, 1, 1);
  std::get<PoolAttrs>(dil.attrs).win.dilation_h = 2;
  check_grads(cpu::max_pool_forward, cpu::max_pool_backward, dil, {distinct({1, 5, 4, 2})});
  // More than one channel block (64) per image.
  check_grads(cpu::max_pool_forward, cpu::max_pool_backward, pool(Op::MaxPool, 2, 2, 0), {distinct({2, 4, 4, 66})});
}

TEST(cpu_avg_pool_grad) {
  for (bool include_pad : {false, true}) {
    check_grads(cpu::avg_pool_forward, cpu::avg_pool_backward, pool(Op::AvgPool, 3, 2, 1, true, include_pad),
                {distinct({2, 5, 6, 3})});
    OpCall same = pool(Op::AvgPool, 3, 2, 0, false, include_pad);
    std::get<PoolAttrs>(same.attrs).win.pad_mode = PadMode::SameLower;
    check_grads(cpu::avg_pool_forward, cpu::avg_pool_backward, same, {distinct({1, 4, 5, 2})});
  }
  check_grads(cpu::avg_pool_forward, cpu::avg_pool_backward, pool(Op::AvgPool, 2, 1, 0), {distinct({2, 3, 3, 66})});
}

TEST(cpu_global_pool_grad) {
  check_grads(cpu::global_avg_pool_forward, cpu::global_avg_pool_backward, OpCall{Op::GlobalAvgPool, NoAttrs{}},
              {distinct({2, 3, 2, 5})});
  check_grads(cpu::global_max_pool_forward, cpu::global_max_pool_backward, OpCall{Op::GlobalMaxPool, NoAttrs{}},
              {distinct({2, 3, 2, 70})});
}

TEST(cpu_max_pool_matches_naive_on_large_input) {
  // Big enough that rows run on several threads.
  const Tensor x = distinct({2, 17, 19, 70});
  const OpCall call = pool(Op::MaxPool, 3, 2, 1, true);
  const Tensor y = run(cpu::max_pool_forward, call, {x});
  const Geometry2d g = resolve_window("max_pool", call.get<PoolAttrs>().win, 17, 19, true);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        for (int64_t c = 0; c < 70; ++c) {
          float best = -1e30f;
          for (int kh = 0; kh < 3; ++kh)
            for (int kw = 0; kw < 3; ++kw) {
              const int64_t ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
              if (ih >= 0 && ih < 17 && iw >= 0 && iw < 19)
                best = std::max(best, x.data()[((n * 17 + ih) * 19 + iw) * 70 + c]);
            }
          CHECK(y.data()[((n * g.out_h + oh) * g.out_w + ow) * 70 + c] == best);
        }
}
