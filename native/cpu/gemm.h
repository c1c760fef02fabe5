// Single-precision GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C.
//
// Row-major. op(A) is M x K (A is K x M when trans_a), op(B) is K x N (B is
// N x K when trans_b); lda/ldb/ldc are row strides in elements. beta == 0
// ignores C's previous contents (NaN-safe). Packs panels of A and B into
// cache-sized blocks and runs a SIMD micro-kernel across the thread pool.
#pragma once
#include <algorithm>
#include <cstdint>

namespace ec::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// A K x N right-hand side packed once for many products (Winograd's per-point
// filter matrices): the layout the micro-kernel reads, which callers fill
// element by element through at(). Columns past N must stay zero.
struct PackedB {
  int64_t K = 0, N = 0, kc = 1, nr = 1, panels = 0;
  int64_t floats() const { return K * panels * nr; }
  // Offset of element (k, j); runs of j inside one nr-aligned panel are contiguous.
  int64_t at(int64_t k, int64_t j) const {
    const int64_t s = k / kc, k0 = s * kc, depth = std::min(kc, K - k0);
    return k0 * panels * nr + (j / nr) * nr * depth + (k - k0) * nr + j % nr;
  }
};
PackedB packed_b_layout(int64_t K, int64_t N);
// Rows of the register tile (M is best a multiple of it).
int gemm_mr();
// C (M x N, row stride ldc) = A (M x K, row stride lda) * B, B packed as L;
// on the calling thread (no pool hand-off).
void gemm_packed(int64_t M, const float* A, int64_t lda, const PackedB& L, const float* Bp, float* C, int64_t ldc);

}  // namespace ec::cpu
