// Broadcasting add/mul, concat and reshape: hand-computed values, a naive
// numpy-rule reference over many shapes, and finite-difference gradients.
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


// Flat index into a tensor of shape `s` right-aligned under multi-index `idx`
// of a broadcast shape (size-1 dims are pinned to 0): the numpy rule, spelled out.
int64_t broadcast_index(const Shape& s, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  const size_t lead = idx.size() - s.size();
  for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return off;
}

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) idx[d] = i % s[d], i /= s[d];
  return idx;
}

Tensor naive_binary(const Tensor& a, const Tensor& b, bool mul) {
  Tensor o(broadcast_shapes("test", a.shape(), b.shape()));
  for (int64_t i = 0; i < o.numel(); ++i) {
    const auto idx = unravel(i, o.shape());
    const float x = a.data()[broadcast_index(a.shape(), idx)], y = b.data()[broadcast_index(b.shape(), idx)];
    o.data()[i] = mul ? x * y : x + y;
  }
  return o;
}

Tensor naive_reduce(const Tensor& g, const Shape& target) {
  Tensor o(target);
  for (int64_t i = 0; i < g.numel(); ++i) o.data()[broadcast_index(target, unravel(i, g.shape()))] += g.data()[i];
  return o;
}

void check_same(const Tensor& got, const Tensor& want, double tol) {
  CHECK(got.shape() == want.shape());
  for (int64_t i = 0; i < want.numel(); ++i)
    if (!(std::fabs(got.data()[i] - want.data()[i]) <= tol))
      EC_FAIL("element " << i << ": " << got.data()[i] << " vs " << want.data()[i]);
}

Tensor random(const Shape& s, uint32_t seed) { return Tensor::from(s, values(shape_numel(s), -1.f, 1.f, seed)); }

const OpCall kAdd{Op::Add, NoAttrs{}}, kMul{Op::Mul, NoAttrs{}};

}  // namespace

TEST(ew_add_hand) {
  // [2,1,3] + [3]: b is a vector over the last axis.
  const Tensor a = Tensor::from({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = run(cpu::add_forward, kAdd, {a, Tensor::from({3}, {10, 20, 30})});
  CHECK(y.shape() == Shape({2, 1, 3}));
  check_values(y, {11, 22, 33, 14, 25, 36});
  // [2,1,3] + [4,1] -> [2,4,3]: both operands broadcast.
  const Tensor z = run(cpu::add_forward, kAdd, {a, Tensor::from({4, 1}, {0, 10, 20, 30})});
  CHECK(z.shape() == Shape({2, 4, 3}));
  check_values(z, {1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33, 4, 5, 6, 14, 15, 16, 24, 25, 26, 34, 35, 36});
  // Scalar [] + [2,2] and column [2,1] + row [1,2].
  check_values(run(cpu::add_forward, kAdd, {Tensor::from({}, {5}), Tensor::from({2, 2}, {1, 2, 3, 4})}), {6, 7, 8, 9});
  check_values(run(cpu::add_forward, kAdd, {Tensor::from({2, 1}, {1, 2}), Tensor::from({1, 2}, {10, 20})}),
               {11, 21, 12, 22});
}

TEST(ew_mul_hand) {
  // [2,3] * [2,1]: each row scaled by its own factor (not the last-axis fast path).
  check_values(run(cpu::mul_forward, kMul, {Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::from({2, 1}, {2, -1})}),
               {2, 4, 6, -4, -5, -6});
  // b [2,1] has as many elements as the last axis but is a column: it scales rows.
  check_values(run(cpu::mul_forward, kMul, {Tensor::from({2, 2}, {1, 1, 1, 1}), Tensor::from({2, 1}, {3, 4})}),
               {3, 3, 4, 4});
  check_values(run(cpu::mul_forward, kMul, {Tensor::from({2}, {3, 4}), Tensor::from({2, 2}, {1, 2, 3, 4})}),
               {3, 8, 9, 16});
}

TEST(ew_add_backward_hand) {
  const Tensor dy = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  // Gradients reduce over broadcast dims: [3] gets column sums, [2,1] row sums.
  auto g = run_backward(cpu::add_forward, cpu::add_backward, kAdd, {Tensor({2, 3}), Tensor({3})}, dy);
  check_values(g[0], {1, 2, 3, 4, 5, 6});
  check_values(g[1], {5, 7, 9});
  g = run_backward(cpu::add_forward, cpu::add_backward, kAdd, {Tensor({2, 1}), Tensor({1, 3})}, dy);
  check_values(g[0], {6, 15});
  check_values(g[1], {5, 7, 9});
  g = run_backward(cpu::add_forward, cpu::add_backward, kAdd, {Tensor(Shape{}), Tensor({2, 3})}, dy, {true, false});
  check_values(g[0], {21});
  CHECK(std::isnan(g[1].data()[0]));  // not wanted: left alone
}

TEST(ew_mul_backward_hand) {
  const Tensor a = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}), b = Tensor::from({3}, {1, 0, -1});
  const Tensor dy = Tensor::from({2, 3}, {1, 1, 1, 2, 2, 2});
  const auto g = run_backward(cpu::mul_forward, cpu::mul_backward, kMul, {a, b}, dy);
  check_values(g[0], {1, 0, -1, 2, 0, -2});  // dy * b
  check_values(g[1], {9, 12, 15});           // column sums of dy * a
  const auto h = run_backward(cpu::mul_forward, cpu::mul_backward, kMul, {a, b}, dy, {false, true});
  check_values(h[1], {9, 12, 15});
}

// Ranks and sizes that hit every path (fast paths, merged dims, column blocks,
// both reduction layouts, parallel chunks) against the spelled-out numpy rule.
TEST(ew_broadcast_matches_reference) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 1, 5, 7}, {4, 1, 7}}, {{2, 3, 4}, {2, 3, 4}}, {{64, 300}, {64, 1}}, {{2, 9000}, {9000}},
      {{9000, 2}, {1, 2}},       {{3, 9000}, {3, 1}},    {{1}, {5, 1, 3}},     {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 2}},
      {{40000}, {}},             {{0, 3}, {3}}};
  uint32_t seed = 10;
  for (const auto& [sa, sb] : cases) {
    const Tensor a = random(sa, ++seed), b = random(sb, ++seed);
    check_same(run(cpu::add_forward, kAdd, {a, b}), naive_binary(a, b, false), 1e-6);
    check_same(run(cpu::mul_forward, kMul, {b, a}), naive_binary(b, a, true), 1e-6);
    const Tensor dy = random(broadcast_shapes("test", sa, sb), ++seed);
    const auto g = run_backward(cpu::add_forward, cpu::add_backward, kAdd, {a, b}, dy);
    check_same(g[0], naive_reduce(dy, sa), 1e-3);
    check_same(g[1], naive_reduce(dy, sb), 1e-3);
  }
}

TEST(ew_concat_hand) {
  const OpCall call{Op::Concat, AxisAttrs{-1}};
  const Tensor a = Tensor::from({2, 1}, {1, 2}), b = Tensor::from({2, 2}, {3, 4, 5, 6});
  const Tensor y = run(cpu::concat_forward, call, {a, b});
  CHECK(y.shape() == Shape({2, 3}));
  check_values(y, {1, 3, 4, 2, 5, 6});
  check_values(run(cpu::concat_forward, {Op::Concat, AxisAttrs{0}}, {b, Tensor::from({1, 2}, {7, 8})}),
               {3, 4, 5, 6, 7, 8});
  const auto g = run_backward(cpu::concat_forward, cpu::concat_backward, call, {a, b},
                              Tensor::from({2, 3}, {10, 20, 30, 40, 50, 60}));
  check_values(g[0], {10, 40});
  check_values(g[1], {20, 30, 50, 60});
}

TEST(ew_concat_backward_unwanted) {
  // Three inputs along axis 1 with extents 1, 2, 1; dy row = [a | b b | c].
  const OpCall call{Op::Concat, AxisAttrs{1}};
  const std::vector<Tensor> xs = {Tensor({2, 1}), Tensor({2, 2}), Tensor({2, 1})};
  const Tensor dy = Tensor::from({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto g = run_backward(cpu::concat_forward, cpu::concat_backward, call, xs, dy, {true, false, true});
  check_values(g[0], {1, 5});
  check_values(g[2], {4, 8});
  g = run_backward(cpu::concat_forward, cpu::concat_backward, call, xs, dy, {false, true, false});
  check_values(g[1], {2, 3, 6, 7});
  // Without the inputs, extents come from din; unknown ones must form one run.
  Tensor g0 = poisoned({2, 1}), g1 = poisoned({2, 2}), g2 = poisoned({2, 1});
  const Inputs none = {nullptr, nullptr, nullptr};
  cpu::concat_backward(call, none, Tensor(), dy, {nullptr, nullptr, &g2});
  check_values(g2, {4, 8});
  cpu::concat_backward(call, none, Tensor(), dy, {nullptr, &g1, &g2});
  check_values(g1, {2, 3, 6, 7});
  cpu::concat_backward(call, none, Tensor(), dy, {&g0, nullptr, &g2});
  check_values(g0, {1, 5});
  CHECK_THROWS(cpu::concat_backward(call, none, Tensor(), dy, {nullptr, &g1, nullptr}), "concat");
}

TEST(ew_reshape_copy) {
  const OpCall call{Op::Reshape, ReshapeAttrs{{3, -1}}};
  const Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor y = run(cpu::reshape_forward, call, {x});
  CHECK(y.shape() == Shape({3, 2}));
  check_values(y, {1, 2, 3, 4, 5, 6});
  CHECK(y.data() != x.data());
  const Tensor f = run(cpu::reshape_forward, {Op::Flatten, FlattenAttrs{1}}, {Tensor::from({2, 1, 2}, {1, 2, 3, 4})});
  CHECK(f.shape() == Shape({2, 2}));
  const Tensor dy = Tensor::from({3, 2}, {6, 5, 4, 3, 2, 1});
  const auto g = run_backward(cpu::reshape_forward, cpu::reshape_backward, call, {x}, dy);
  CHECK(g[0].shape() == Shape({2, 3}));
  check_values(g[0], {6, 5, 4, 3, 2, 1});
}

TEST(ew_grads) {
  check_grad(cpu::add_forward, cpu::add_backward, kAdd, {random({2, 1, 3}, 1), random({4, 1}, 2)}, 1e-2, 1e-2);
  check_grad(cpu::mul_forward, cpu::mul_backward, kMul, {random({2, 3, 4}, 3), random({3, 1}, 4)}, 1e-2, 1e-2);
  check_grad(cpu::mul_forward, cpu::mul_backward, kMul, {random({}, 5), random({2, 2}, 6)}, 1e-2, 1e-2);
  check_grad(cpu::concat_forward, cpu::concat_backward, {Op::Concat, AxisAttrs{1}},
             {random({2, 1, 3}, 7), random({2, 2, 3}, 8), random({2, 1, 3}, 9)}, 1e-2, 1e-2);
  check_grad(cpu::reshape_forward, cpu::reshape_backward, {Op::Reshape, ReshapeAttrs{{-1}}}, {random({2, 3}, 10)},
             1e-2, 1e-2);
}
