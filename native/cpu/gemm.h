// Single-precision GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C.
//
// Row-major. op(A) is M x K (A is K x M when trans_a), op(B) is K x N (B is
// N x K when trans_b); lda/ldb/ldc are row strides in elements. beta == 0
// ignores C's previous contents (NaN-safe). Packs panels of A and B into
// cache-sized blocks and runs a SIMD micro-kernel across the thread pool.
#pragma once
#include <cstdint>

namespace ec::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace ec::cpu
