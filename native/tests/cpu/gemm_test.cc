// gemm vs a naive double-precision triple loop: every transpose combination,
// padded leading dimensions, alpha/beta variants, edge sizes around the
// micro-tile (0, 1, MR +- 1, NR +- 1), the few-rows path, K and N blocking
// (K super-blocks included), NaN-safety of beta == 0, and that C's padding
// columns are left untouched.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/threadpool.h"
#include "../test.h"

namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  int64_t pad_a, pad_b, pad_c;  // extra elements per row beyond the minimum
};

// Runs one case against the double reference; returns the worst error over tolerance (<= 1 passes).
double run_case(const Case& c, std::mt19937& rng, bool nan_c = false) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad_a, ldb = b_cols + c.pad_b, ldc = c.N + c.pad_c;
  std::vector<float> A(a_rows * lda + 1), B(b_rows * ldb + 1), C(c.M * ldc + 1);
  for (auto& v : A) v = dist(rng);
  for (auto& v : B) v = dist(rng);
  for (auto& v : C) v = nan_c ? std::numeric_limits<float>::quiet_NaN() : dist(rng);
  const std::vector<float> C0 = C;
  ec::cpu::gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  double worst = 0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      if (j >= c.N) {  // padding column: must be untouched (bitwise, NaN included)
        if (!(got == C0[i * ldc + j] || (std::isnan(got) && std::isnan(C0[i * ldc + j])))) return 1e9;
        continue;
      }
      double s = 0, mag = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = c.ta ? A[k * lda + i] : A[i * lda + k];
        const double b = c.tb ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        mag += std::fabs(a * b);
      }
      double want = c.alpha * s;
      if (c.beta != 0.f) want += static_cast<double>(c.beta) * C0[i * ldc + j];
      const double tol = 1e-5 * (std::fabs(c.alpha) * mag + std::fabs(c.beta)) + 1e-6;
      if (!std::isfinite(got)) return 1e9;
      worst = std::max(worst, std::fabs(got - want) / tol);
    }
  }
  if (C[c.M * ldc] != C0[c.M * ldc] && !std::isnan(C0[c.M * ldc])) return 1e9;  // no write past the end
  return worst;
}

void check_case(const Case& c, std::mt19937& rng, bool nan_c = false) {
  const double e = run_case(c, rng, nan_c);
  if (!(e <= 1.0))
    EC_FAIL("gemm ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N << " K=" << c.K << " alpha="
                       << c.alpha << " beta=" << c.beta << " pads=" << c.pad_a << "," << c.pad_b << "," << c.pad_c
                       << " error/tol " << e);
}

}  // namespace

TEST(gemm_edge_sizes_all_transposes) {
  std::mt19937 rng(1);
  const int64_t sizes[] = {0, 1, 2, 3, 5, 13, 14, 15, 17, 31, 32, 33, 47};
  for (int t = 0; t < 4; ++t)
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{33}})
          check_case({bool(t & 1), bool(t & 2), M, N, K, 1.f, 0.f, 0, 0, 0}, rng);
}

TEST(gemm_alpha_beta_and_strides) {
  std::mt19937 rng(2);
  const float alphas[] = {1.f, -0.5f, 2.f, 0.f};
  const float betas[] = {0.f, 1.f, 0.5f, -2.f};
  for (int t = 0; t < 4; ++t)
    for (float alpha : alphas)
      for (float beta : betas)
        for (int64_t M : {int64_t{3}, int64_t{29}, int64_t{150}})
          check_case({bool(t & 1), bool(t & 2), M, 45, 70, alpha, beta, 3, 5, 7}, rng);
}

TEST(gemm_random_shapes) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> dim(1, 200), pad(0, 9), flag(0, 1);
  for (int i = 0; i < 150; ++i) {
    Case c{bool(flag(rng)), bool(flag(rng)), dim(rng), dim(rng), dim(rng), 1.f, 0.f, pad(rng), pad(rng), pad(rng)};
    if (i % 3 == 1) c.beta = 1.f;
    if (i % 5 == 2) c.alpha = -1.5f, c.beta = 0.25f;
    check_case(c, rng);
  }
}

TEST(gemm_k_and_n_blocking) {
  std::mt19937 rng(4);
  // K beyond one K slice, N beyond one packed column block (K * N > 2M floats).
  check_case({false, false, 37, 100, 1000, 1.f, 0.5f, 1, 2, 3}, rng);
  check_case({true, true, 37, 100, 1000, 1.f, 0.f, 0, 0, 0}, rng);
  check_case({false, false, 9, 4100, 600, 0.75f, 1.f, 0, 1, 0}, rng);
  check_case({true, false, 300, 70, 520, 1.f, 0.f, 2, 0, 1}, rng);
  // K deep enough that packed op(B) is taken in K super-blocks.
  check_case({false, true, 6, 300, 20000, 1.f, 0.5f, 0, 1, 2}, rng);
  check_case({true, false, 7, 290, 20000, -1.f, 0.f, 3, 0, 0}, rng);
}

// op(B) read in place (not transposed, N a whole number of panels, up to
// 1024 rows of A): short rows of B read as they are, long ones (more than 1024
// floats) copied a panel at a time; K over several slices, row blocks and
// panel runs split over the threads, padded strides, alpha and beta.
TEST(gemm_direct_b_path) {
  std::mt19937 rng(9);
  for (int64_t N : {32, 64, 96, 512, 1056, 2048})
    for (int64_t M : {9, 14, 15, 100, 333, 1024})
      for (int64_t K : {1, 7, 300, 700}) {
        if (M * N * K > (int64_t{1} << 27)) continue;
        const bool odd = (M + N + K) % 2;
        check_case({odd, false, M, N, K, odd ? -0.5f : 1.f, K == 7 ? 0.5f : 0.f, 3, N == 2048 ? 0 : 5, 2}, rng);
      }
  // Just past the row limit: packed again, same results.
  check_case({false, false, 1025, 64, 40, 1.f, 1.f, 0, 0, 0}, rng);
}

TEST(gemm_few_rows_path) {
  std::mt19937 rng(5);
  for (int t = 0; t < 4; ++t)
    for (int64_t M : {1, 2, 3, 4, 5, 8, 9})
      for (int64_t N : {1, 15, 16, 17, 300})
        check_case({bool(t & 1), bool(t & 2), M, N, 131, -0.5f, t == 3 ? 0.5f : 0.f, 1, 2, 3}, rng);
}

// The streaming few-rows path (M <= 8) at the sizes where it splits its work:
// B deep and wide enough for K blocks with partial sums (and their last,
// shorter block), shallow B split by columns, transposed B split by rows;
// row counts around its sweeps of eight rows and column tails past a vector.
TEST(gemm_few_rows_streaming_splits) {
  std::mt19937 rng(8);
  for (int t = 0; t < 4; ++t)
    for (int64_t M : {1, 2, 3, 5, 8}) {
      const bool ta = t & 1, tb = t & 2;
      check_case({ta, tb, M, 1000, 2051, 1.f, 0.f, 0, 1, 2}, rng);      // K blocks, a short last block
      check_case({ta, tb, M, 4133, 9, 0.75f, 1.f, 1, 0, 3}, rng);       // shallow: column runs
      check_case({ta, tb, M, 37, 20007, -1.f, 0.5f, 2, 3, 0}, rng);     // deep and narrow
      check_case({ta, tb, M, 2500, 700, 1.f, -2.f, 0, 0, 1}, rng, false);
    }
  // beta == 0 ignores NaN in C on every split.
  for (int t = 0; t < 4; ++t)
    for (int64_t M : {1, 4, 7}) {
      check_case({bool(t & 1), bool(t & 2), M, 1000, 2051, 1.f, 0.f, 0, 0, 2}, rng, true);
      check_case({bool(t & 1), bool(t & 2), M, 4133, 9, 1.f, 0.f, 0, 0, 2}, rng, true);
    }
}

// The few-rows path splits its work by shape, not by thread count: the same
// bits with 1 and 3 threads (forward-style and transposed B).
TEST(gemm_few_rows_same_bits_any_thread_count) {
  const int saved = ec::cpu::num_threads();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (bool tb : {false, true})
    for (int64_t M : {1, 3, 8}) {
      const int64_t N = 1031, K = 3000;
      std::vector<float> A(M * K), B(K * N);
      for (auto& v : A) v = dist(rng);
      for (auto& v : B) v = dist(rng);
      std::vector<float> C[2];
      int slot = 0;
      for (int threads : {1, 3}) {
        ec::cpu::set_num_threads(threads);
        C[slot].assign(M * N, 0.f);
        ec::cpu::gemm(false, tb, M, N, K, 1.f, A.data(), K, B.data(), tb ? K : N, 0.f, C[slot].data(), N);
        ++slot;
      }
      CHECK(C[0] == C[1]);
    }
  ec::cpu::set_num_threads(saved);
}

TEST(gemm_beta_zero_ignores_nan) {
  std::mt19937 rng(6);
  for (int t = 0; t < 4; ++t)
    for (int64_t M : {1, 4, 20, 100})
      check_case({bool(t & 1), bool(t & 2), M, 37, 19, 1.f, 0.f, 0, 0, 4}, rng, /*nan_c=*/true);
  // K == 0 and alpha == 0 with beta == 0 still write zeros over NaN.
  check_case({false, false, 8, 9, 0, 1.f, 0.f, 0, 0, 2}, rng, true);
  check_case({false, false, 8, 9, 5, 0.f, 0.f, 0, 0, 2}, rng, true);
}

TEST(gemm_thread_counts_agree) {
  std::mt19937 rng(7);
  const int saved = ec::cpu::num_threads();
  for (int threads : {1, 3}) {
    ec::cpu::set_num_threads(threads);
    check_case({false, false, 200, 130, 90, 1.f, 0.f, 0, 0, 0}, rng);
    check_case({true, true, 3, 700, 50, 1.f, 1.f, 0, 0, 0}, rng);
  }
  ec::cpu::set_num_threads(saved);
}
