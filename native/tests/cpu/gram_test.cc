// Gram matrix: hand-computed values (including an asymmetric dG), a naive
// reference on a larger tensor, and a finite-difference gradient check.
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


const OpCall kGram{Op::Gram, NoAttrs{}};

// G[n,i,j] = sum_p F[n,p,i] F[n,p,j] / P, in double.
Tensor naive_gram(const Tensor& f) {
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  Tensor g({n, c, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < c; ++j) {
        double s = 0;
        for (int64_t q = 0; q < p; ++q) s += double(f.data()[(b * p + q) * c + i]) * f.data()[(b * p + q) * c + j];
        g.data()[(b * c + i) * c + j] = float(s / p);
      }
  return g;
}

}  // namespace

TEST(gram_hand) {
  // One item, two pixels (1,2) and (3,4): G = [[1+9, 2+12], [2+12, 4+16]] / 2.
  const Tensor f = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor g = run(cpu::gram_forward, kGram, {f});
  CHECK(g.shape() == Shape({1, 2, 2}));
  check_values(g, {5, 7, 7, 10});
  // Two items are independent: the second is [[0,1],[1,0]] over 2x1 pixels.
  const Tensor f2 = Tensor::from({2, 2, 1, 2}, {1, 2, 3, 4, 0, 1, 1, 0});
  check_values(run(cpu::gram_forward, kGram, {f2}), {5, 7, 7, 10, 0.5f, 0, 0, 0.5f});
}

TEST(gram_backward_hand) {
  // dF = F (dG + dG^T) / P with dG = [[1,0],[0,0]]: F [[2,0],[0,0]] / 2 keeps column 0.
  const Tensor f = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  auto g = run_backward(cpu::gram_forward, cpu::gram_backward, kGram, {f}, Tensor::from({1, 2, 2}, {1, 0, 0, 0}));
  check_values(g[0], {1, 0, 3, 0});
  // An asymmetric dG = [[0,1],[0,0]] counts for both off-diagonal entries: F [[0,1],[1,0]] / 2.
  g = run_backward(cpu::gram_forward, cpu::gram_backward, kGram, {f}, Tensor::from({1, 2, 2}, {0, 1, 0, 0}));
  check_values(g[0], {1, 0.5f, 2, 1.5f});
}

TEST(gram_matches_reference) {
  const Tensor f = Tensor::from({2, 5, 7, 9}, values(2 * 5 * 7 * 9, -1.f, 1.f, 40));
  const Tensor g = run(cpu::gram_forward, kGram, {f}), want = naive_gram(f);
  for (int64_t i = 0; i < g.numel(); ++i) CHECK_NEAR(g.data()[i], want.data()[i], 1e-5);
}

TEST(gram_grad) {
  check_grad(cpu::gram_forward, cpu::gram_backward, kGram,
             {Tensor::from({2, 3, 2, 4}, values(48, -1.f, 1.f, 41))}, 1e-2, 1e-2);
}

// Channel counts that take the symmetric kernel (multiples of the vector
// width, one with columns past the 4-vector tiles) and pixel counts large
// enough to split over the threads, against the double-precision reference.
TEST(gram_symmetric_kernel_matches_reference) {
  const std::vector<std::vector<int64_t>> shapes = {{1, 32, 32, 64}, {2, 32, 40, 80}, {1, 3, 5, 16}, {1, 16, 16, 256}};
  uint32_t seed = 42;
  for (const auto& s : shapes) {
    const int64_t numel = s[0] * s[1] * s[2] * s[3];
    const Tensor f = Tensor::from(Shape(s), values(numel, -1.f, 1.f, seed++));
    const Tensor g = run(cpu::gram_forward, kGram, {f}), want = naive_gram(f);
    CHECK(g.shape() == Shape({s[0], s[3], s[3]}));
    for (int64_t i = 0; i < g.numel(); ++i) CHECK_NEAR(g.data()[i], want.data()[i], 2e-6);
  }
}

// Backward on the unpacked path (channels a multiple of the vector width, up
// to 256; 80 has columns past the 4-vector tiles, 3x5 pixels a row tail) and
// on the GEMM path (272 channels), against dF = F (dG + dG^T) / P in double.
TEST(gram_backward_matches_reference) {
  const std::vector<std::vector<int64_t>> shapes = {{1, 16, 16, 64}, {2, 3, 5, 80}, {1, 7, 9, 16}, {1, 4, 5, 272}};
  uint32_t seed = 7;
  for (const auto& s : shapes) {
    const int64_t n = s[0], p = s[1] * s[2], c = s[3];
    const Tensor f = Tensor::from(Shape(s), values(n * p * c, -1.f, 1.f, seed++));
    const Tensor dg = Tensor::from({n, c, c}, values(n * c * c, -1.f, 1.f, seed++));
    const auto got = run_backward(cpu::gram_forward, cpu::gram_backward, kGram, {f}, dg);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t q = 0; q < p; ++q)
        for (int64_t j = 0; j < c; ++j) {
          double want = 0;
          for (int64_t i = 0; i < c; ++i)
            want += double(f.data()[(b * p + q) * c + i]) *
                    (double(dg.data()[(b * c + i) * c + j]) + dg.data()[(b * c + j) * c + i]);
          CHECK_NEAR(got[0].data()[(b * p + q) * c + j], want / p, 2e-6);
        }
  }
}
