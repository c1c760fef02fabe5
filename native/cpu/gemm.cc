// Blocked SGEMM (see gemm.h for the contract).
//
// Structure (BLIS-style): op(B) is packed for all of K, NC columns at a time,
// into NR-wide panels (k-major, zero padded) shared by all threads; then tasks
// over (MC-row block, run of B panels) walk the KC-deep slices of K, packing
// their MC x KC block of op(A), pre-scaled by alpha, into MR-row panels in a
// thread-local buffer and sweeping an MR x NR register-tile micro-kernel over
// it. Packing is where trans_a/trans_b and the leading dimensions are absorbed,
// so the micro-kernel only ever sees unit-stride, aligned, padded panels.
//
// The micro-kernel is one template written with GCC vector extensions; it is
// instantiated per ISA (AVX-512, AVX2+FMA, baseline SSE2) inside functions
// carrying __attribute__((target)) and picked at run time with
// __builtin_cpu_supports, so the library needs no -march flag.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "threadpool.h"
#include "winograd.h"

namespace ec::cpu {

namespace {

#define EC_INLINE inline __attribute__((always_inline))

// VW floats per vector (4: SSE, 8: AVX2, 16: AVX-512) and the matching shuffle mask.
template <int VW> struct VecOf {
  typedef float type __attribute__((vector_size(VW * 4)));
  typedef int32_t mask __attribute__((vector_size(VW * 4)));
};

// One call's arguments.
struct Gemm {
  bool ta, tb;
  int64_t M, N, K;
  float alpha;
  const float* A;
  const float* B;
  int64_t lda, ldb;
  float beta;
  float* C;
  int64_t ldc;
};

// Packing buffers come from the workspace (one per thread and role, or the
// caller's lease), so repeated calls neither allocate nor fault in fresh pages.
struct Scratch {
  int slot;
  float* get(size_t n) const { return workspace(slot, static_cast<int64_t>(n)); }
};
const Scratch tl_pack_a{kSlotPackA}, tl_pack_b{kSlotPackB};

// C = beta * C over an M x N block (beta == 0 writes zeros without reading).
void scale_c(float* C, int64_t ldc, int64_t M, int64_t N, float beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
}

template <int VW, int MR>
struct Kernel {
  using V = typename VecOf<VW>::type;
  using IV = typename VecOf<VW>::mask;
  static constexpr int NR = 2 * VW;

  // In-register transpose of VW rows of VW floats: log2(VW) butterfly stages,
  // stage d swapping the d-wide off-diagonal blocks of rows i and i+d.
  static EC_INLINE void transpose(V (&r)[VW]) {
#pragma GCC unroll 8
    for (int d = 1; d < VW; d *= 2) {
      IV lo, hi;
      for (int j = 0; j < VW; ++j) {
        lo[j] = (j & d) ? VW + j - d : j;
        hi[j] = (j & d) ? VW + j : j + d;
      }
#pragma GCC unroll 16
      for (int i = 0; i < VW; ++i)
        if (!(i & d)) {
          const V a = r[i], b = r[i + d];
#if defined(__clang__)
          // clang has no two-vector shuffle with a run-time mask (only the fuzz build uses clang).
          V x, y;
          for (int j = 0; j < VW; ++j) {
            x[j] = lo[j] < VW ? a[lo[j]] : b[lo[j] - VW];
            y[j] = hi[j] < VW ? a[hi[j]] : b[hi[j] - VW];
          }
          r[i] = x;
          r[i + d] = y;
#else
          r[i] = __builtin_shuffle(a, b, lo);
          r[i + d] = __builtin_shuffle(a, b, hi);
#endif
        }
    }
  }

  // op(A)[i0:i0+mc, k0:k0+kc] * alpha -> MR-row panels, each kc x MR (k-major).
  // The destination needs VW floats of slack past mc_padded * kc (see below).
  static EC_INLINE void pack_a(const Gemm& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
    const float alpha = g.alpha;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
      float* __restrict d = dst + ir * kc;
      int64_t k = 0;
      if (!g.ta && m == MR && MR <= VW) {
        // Rows of op(A) are contiguous: load VW k-values of each row, transpose,
        // and store each k's MR values as a full vector; the VW - MR extra lanes
        // land on the next k's slot (rewritten next) or the slack after the buffer.
        const float* s = g.A + (i0 + ir) * g.lda + k0;
        for (; k + VW <= kc; k += VW) {
          V r[VW];
#pragma GCC unroll 16
          for (int i = 0; i < VW; ++i) {
            r[i] = V{};
            if (i < MR) std::memcpy(&r[i], s + i * g.lda + k, sizeof(V));
          }
          transpose(r);
#pragma GCC unroll 16
          for (int j = 0; j < VW; ++j) {
            const V out = r[j] * alpha;
            std::memcpy(d + (k + j) * MR, &out, sizeof(V));
          }
        }
      }
      if (!g.ta) {
        for (int i = 0; i < m; ++i) {
          const float* __restrict s = g.A + (i0 + ir + i) * g.lda + k0;
          for (int64_t kk = k; kk < kc; ++kk) d[kk * MR + i] = alpha * s[kk];
        }
      } else if (m == MR) {
        for (; k < kc; ++k) {
          const float* __restrict s = g.A + (k0 + k) * g.lda + i0 + ir;
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) d[k * MR + i] = alpha * s[i];
        }
      } else {
        for (; k < kc; ++k) {
          const float* __restrict s = g.A + (k0 + k) * g.lda + i0 + ir;
          for (int i = 0; i < m; ++i) d[k * MR + i] = alpha * s[i];
        }
      }
      if (m < MR)
        for (int64_t kk = 0; kk < kc; ++kk)
          for (int i = m; i < MR; ++i) d[kk * MR + i] = 0.f;
    }
  }

  // op(B)[k0:k0+kc, j0+p*NR ...] for panels [p0, p1) -> kc x NR panels.
  static EC_INLINE void pack_b(const Gemm& g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t p0,
                               int64_t p1, float* bp) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t jr = p * NR;
      const int n = static_cast<int>(std::min<int64_t>(NR, nc - jr));
      float* __restrict d = bp + jr * kc;
      if (!g.tb) {
        for (int64_t k = 0; k < kc; ++k) {
          const float* __restrict s = g.B + (k0 + k) * g.ldb + j0 + jr;
          float* dk = d + k * NR;
          if (n == NR) {
            std::memcpy(dk, s, sizeof(float) * NR);
          } else {
            for (int j = 0; j < n; ++j) dk[j] = s[j];
            for (int j = n; j < NR; ++j) dk[j] = 0.f;
          }
        }
      } else {
        // Column j of op(B) is contiguous in B: read along k, write with stride NR.
        for (int j = 0; j < n; ++j) {
          const float* __restrict s = g.B + (j0 + jr + j) * g.ldb + k0;
          for (int64_t k = 0; k < kc; ++k) d[k * NR + j] = s[k];
        }
        for (int64_t k = 0; k < kc; ++k)
          for (int j = n; j < NR; ++j) d[k * NR + j] = 0.f;
      }
    }
  }

  // C[0:m, 0:n] = A_panel * B_panel + beta * C (beta == 0: C not read). B's
  // rows are bs floats apart: NR in a packed panel, ldb read in place.
  static EC_INLINE void micro(int64_t kc, const float* __restrict a, const float* __restrict b, int64_t bs, float* c,
                              int64_t ldc, float beta, int m, int n) {
    V c0[MR], c1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) c0[i] = c1[i] = V{};
    for (int64_t k = 0; k < kc; ++k) {
      V b0, b1;  // unaligned loads: B read in place need not be aligned
      std::memcpy(&b0, b, sizeof(V));
      std::memcpy(&b1, b + VW, sizeof(V));
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        c0[i] += b0 * a[i];
        c1[i] += b1 * a[i];
      }
      a += MR;
      b += bs;
    }
    if (m == MR && n == NR) {
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        float* ci = c + i * ldc;
        V x0 = c0[i], x1 = c1[i];
        if (beta != 0.f) {
          V o[2];
          std::memcpy(o, ci, sizeof(o));
          x0 += o[0] * beta, x1 += o[1] * beta;
        }
        std::memcpy(ci, &x0, sizeof(V));
        std::memcpy(ci + VW, &x1, sizeof(V));
      }
      return;
    }
    // Edge tile: spill the registers and copy the valid m x n corner.
    alignas(64) float t[MR][NR];
    for (int i = 0; i < MR; ++i) std::memcpy(&t[i][0], &c0[i], sizeof(V)), std::memcpy(&t[i][VW], &c1[i], sizeof(V));
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? t[i][j] : t[i][j] + beta * c[i * ldc + j];
  }

  // One task: pack op(A) rows [i0, i0+mc) and multiply by B panels [p0, p1).
  static EC_INLINE void block(const Gemm& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t j0,
                              int64_t nc, int64_t p0, int64_t p1, const float* bp, float beta, float* ap) {
    pack_a(g, i0, mc, k0, kc, ap);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t jr = p * NR;
      const int n = static_cast<int>(std::min<int64_t>(NR, nc - jr));
      for (int64_t ir = 0; ir < mc; ir += MR)
        micro(kc, ap + ir * kc, bp + jr * kc, NR, g.C + (i0 + ir) * g.ldc + j0 + jr, g.ldc, beta,
              static_cast<int>(std::min<int64_t>(MR, mc - ir)), n);
    }
  }

  // The same with op(B) not packed ahead (not transposed, every panel full):
  // its rows [k0, k0+kc) and NR-wide column runs are the panels, ldb apart,
  // read in place, or with bbuf (kc x NR floats) copied there first, one
  // panel at a time, where long rows would make the panel's lines collide in
  // the cache (a power-of-two ldb maps them all to a few sets).
  static EC_INLINE void block_direct(const Gemm& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t p0,
                                     int64_t p1, float beta, float* ap, float* bbuf) {
    pack_a(g, i0, mc, k0, kc, ap);
    for (int64_t p = p0; p < p1; ++p) {
      const float* b = g.B + k0 * g.ldb + p * NR;
      int64_t bs = g.ldb;
      if (bbuf) {
        for (int64_t k = 0; k < kc; ++k) std::memcpy(bbuf + k * NR, b + k * g.ldb, sizeof(float) * NR);
        b = bbuf, bs = NR;
      }
      for (int64_t ir = 0; ir < mc; ir += MR)
        micro(kc, ap + ir * kc, b, bs, g.C + (i0 + ir) * g.ldc + p * NR, g.ldc, beta,
              static_cast<int>(std::min<int64_t>(MR, mc - ir)), NR);
    }
  }

  // Few rows of op(A) (M <= kSmallM): matrix-vector products, bound by the
  // bandwidth of reading B, which is streamed once from memory in its stored
  // layout (no packing), whole rows at a time.
  //
  // B not transposed (K x N): acc[i][j] += sum over k in [k0, k1) of
  // xs[k * MM + i] * B[k][j], for all N columns; xs is op(A) transposed and
  // scaled by alpha (k-major), acc has row stride ldacc. Rows of B go eight
  // at a time (eight sequential streams), so each acc vector is loaded and
  // stored once per eight rows; columns past the last full vector run scalar
  // (always the same columns, so results do not depend on the task split).
  template <int MM, int RR>
  static EC_INLINE void stream_sweep(const float* __restrict x, const float* b, int64_t ldb, int64_t N, float* acc,
                                     int64_t ldacc) {
    float xv[RR][MM];
#pragma GCC unroll 8
    for (int r = 0; r < RR; ++r)
#pragma GCC unroll 8
      for (int i = 0; i < MM; ++i) xv[r][i] = x[r * MM + i];
    int64_t j = 0;
    for (; j + VW <= N; j += VW) {
      V w[RR];
#pragma GCC unroll 8
      for (int r = 0; r < RR; ++r) std::memcpy(&w[r], b + r * ldb + j, sizeof(V));
#pragma GCC unroll 8
      for (int i = 0; i < MM; ++i) {
        V a;
        std::memcpy(&a, acc + i * ldacc + j, sizeof(V));
#pragma GCC unroll 8
        for (int r = 0; r < RR; ++r) a += w[r] * xv[r][i];
        std::memcpy(acc + i * ldacc + j, &a, sizeof(V));
      }
    }
    for (; j < N; ++j)
      for (int i = 0; i < MM; ++i) {
        float a = acc[i * ldacc + j];
        for (int r = 0; r < RR; ++r) a += b[r * ldb + j] * xv[r][i];
        acc[i * ldacc + j] = a;
      }
  }

  template <int MM>
  static EC_INLINE void stream_rows(const float* __restrict xs, const float* B, int64_t ldb, int64_t N, int64_t k0,
                                    int64_t k1, float* acc, int64_t ldacc) {
    constexpr int R = 8;
    int64_t k = k0;
    for (; k + R <= k1; k += R) stream_sweep<MM, R>(xs + k * MM, B + k * ldb, ldb, N, acc, ldacc);
    for (; k < k1; ++k) stream_sweep<MM, 1>(xs + k * MM, B + k * ldb, ldb, N, acc, ldacc);
  }

  // B transposed (B is N x K, row j holding column j of op(B)): C[i][j] =
  // beta * C[i][j] + alpha * dot(A row i, B row j) for j in [j0, j1), A
  // M x K with row stride lda (beta == 0: C not read). R rows of B at a time
  // (sequential streams), MB rows of A per pass over them (the passes after
  // the first read those rows from cache). Each dot: VW-wide partial sums in
  // k order, summed lane by lane, then the scalar tail of k.
  template <int MB, int R>
  static EC_INLINE void stream_dots_block(const float* A, int64_t lda, int64_t K, const float* B, int64_t ldb,
                                          int64_t j, float alpha, float beta, float* C, int64_t ldc) {
    V acc[MB][R];
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i)
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[i][r] = V{};
    const float* b = B + j * ldb;
    int64_t k = 0;
    for (; k + VW <= K; k += VW) {
      V w[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) std::memcpy(&w[r], b + r * ldb + k, sizeof(V));
#pragma GCC unroll 8
      for (int i = 0; i < MB; ++i) {
        V a;
        std::memcpy(&a, A + i * lda + k, sizeof(V));
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[i][r] += a * w[r];
      }
    }
    for (int i = 0; i < MB; ++i)
      for (int r = 0; r < R; ++r) {
        float s = 0.f;
        for (int v = 0; v < VW; ++v) s += acc[i][r][v];
        for (int64_t kk = k; kk < K; ++kk) s += A[i * lda + kk] * b[r * ldb + kk];
        float* c = C + i * ldc + j + r;
        *c = beta == 0.f ? alpha * s : beta * *c + alpha * s;
      }
  }

  template <int MB>
  static EC_INLINE void stream_dots_mb(const float* A, int64_t lda, int64_t K, const float* B, int64_t ldb,
                                       int64_t j0, int64_t j1, float alpha, float beta, float* C, int64_t ldc) {
    constexpr int R = MB == 1 ? 8 : 4;
    int64_t j = j0;
    for (; j + R <= j1; j += R) stream_dots_block<MB, R>(A, lda, K, B, ldb, j, alpha, beta, C, ldc);
    for (; j < j1; ++j) stream_dots_block<MB, 1>(A, lda, K, B, ldb, j, alpha, beta, C, ldc);
  }

  // Columns [j0, j1) of C for all M rows, in blocks of up to four rows of A.
  // With more than four rows, B's rows go in runs of about 256 KB, which stay
  // in cache while each block of A passes over them (B is read from memory once).
  static EC_INLINE void stream_dots(const float* A, int64_t lda, int64_t M, int64_t K, const float* B, int64_t ldb,
                                    int64_t j0, int64_t j1, float alpha, float beta, float* C, int64_t ldc) {
    const int64_t run = M <= 4 ? j1 - j0 : std::max<int64_t>(8, (int64_t{1} << 16) / std::max<int64_t>(1, K));
    for (int64_t s0 = j0; s0 < j1; s0 += run) {
      const int64_t s1 = std::min(j1, s0 + run);
      for (int64_t i0 = 0; i0 < M; i0 += 4) {
        const float* a = A + i0 * lda;
        float* c = C + i0 * ldc;
        switch (std::min<int64_t>(4, M - i0)) {
          case 1: stream_dots_mb<1>(a, lda, K, B, ldb, s0, s1, alpha, beta, c, ldc); break;
          case 2: stream_dots_mb<2>(a, lda, K, B, ldb, s0, s1, alpha, beta, c, ldc); break;
          case 3: stream_dots_mb<3>(a, lda, K, B, ldb, s0, s1, alpha, beta, c, ldc); break;
          default: stream_dots_mb<4>(a, lda, K, B, ldb, s0, s1, alpha, beta, c, ldc); break;
        }
      }
    }
  }

  static EC_INLINE void stream_rows_m(const float* xs, int64_t M, const float* B, int64_t ldb, int64_t N, int64_t k0,
                                      int64_t k1, float* acc, int64_t ldacc) {
    switch (M) {
      case 1: return stream_rows<1>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 2: return stream_rows<2>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 3: return stream_rows<3>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 4: return stream_rows<4>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 5: return stream_rows<5>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 6: return stream_rows<6>(xs, B, ldb, N, k0, k1, acc, ldacc);
      case 7: return stream_rows<7>(xs, B, ldb, N, k0, k1, acc, ldacc);
      default: return stream_rows<8>(xs, B, ldb, N, k0, k1, acc, ldacc);
    }
  }
};

constexpr int64_t kSmallM = 8;
// Most rows of op(A) for which op(B) is read in place (see use_direct_b).
constexpr int64_t kDirectMaxM = 1024;
// Longest row of B (floats) read in place by the micro-kernel; longer ones are
// copied a panel at a time (see block_direct).
constexpr int64_t kDirectMaxLdb = 1024;
// Floats past the packed A block that pack_a's full-vector stores may touch.
constexpr int64_t kPackSlack = 16;
// Floats of packed op(B) kept at once (8 MB): a K x nc block.
constexpr int64_t kBPackBudget = int64_t{1} << 21;

// Per-ISA entry points and block sizes.
struct Isa {
  int mr, nr, mc, kc, nc;
  void (*pack_b)(const Gemm&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*);
  void (*block)(const Gemm&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                const float*, float, float*);
  void (*block_direct)(const Gemm&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float*, float*);
  void (*stream_rows)(const float*, int64_t, const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t);
  void (*stream_dots)(const float*, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, float, float,
                      float*, int64_t);
};

#define EC_GEMM_ISA(name, attr, VW, MR, MC, KC, NC)                                                        \
  attr void name##_pack_b(const Gemm& g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t p0,       \
                          int64_t p1, float* bp) {                                                        \
    Kernel<VW, MR>::pack_b(g, k0, kc, j0, nc, p0, p1, bp);                                                \
  }                                                                                                       \
  attr void name##_block(const Gemm& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t j0,        \
                         int64_t nc, int64_t p0, int64_t p1, const float* bp, float beta, float* ap) {     \
    Kernel<VW, MR>::block(g, i0, mc, k0, kc, j0, nc, p0, p1, bp, beta, ap);                               \
  }                                                                                                       \
  attr void name##_block_direct(const Gemm& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t p0,   \
                                int64_t p1, float beta, float* ap, float* bbuf) {                         \
    Kernel<VW, MR>::block_direct(g, i0, mc, k0, kc, p0, p1, beta, ap, bbuf);                              \
  }                                                                                                       \
  attr void name##_stream_rows(const float* xs, int64_t M, const float* B, int64_t ldb, int64_t N, int64_t k0,  \
                               int64_t k1, float* acc, int64_t ldacc) {                                   \
    Kernel<VW, MR>::stream_rows_m(xs, M, B, ldb, N, k0, k1, acc, ldacc);                                  \
  }                                                                                                       \
  attr void name##_stream_dots(const float* A, int64_t lda, int64_t M, int64_t K, const float* B, int64_t ldb, \
                               int64_t j0, int64_t j1, float alpha, float beta, float* C, int64_t ldc) {  \
    Kernel<VW, MR>::stream_dots(A, lda, M, K, B, ldb, j0, j1, alpha, beta, C, ldc);                       \
  }                                                                                                       \
  const Isa name##_isa = {MR, 2 * VW, MC, KC, NC, name##_pack_b, name##_block, name##_block_direct, name##_stream_rows, name##_stream_dots};

// MC is a multiple of MR; an MC x KC block of A sits in L2, a KC x NR panel of B in L1.
#if defined(__x86_64__) || defined(__i386__)
EC_GEMM_ISA(avx512, __attribute__((target("avx512f,avx2,fma"))), 16, 14, 140, 256, 4096)
EC_GEMM_ISA(avx2, __attribute__((target("avx2,fma"))), 8, 6, 144, 256, 4096)
#endif
EC_GEMM_ISA(generic, , 4, 6, 144, 256, 4096)

const Isa& pick_isa() {
#if defined(__x86_64__) || defined(__i386__)
  if (isa_rank() >= 3) return avx512_isa;
  if (isa_rank() >= 2) return avx2_isa;
#endif
  return generic_isa;
}

// Splits `total` into near-equal blocks of at most `cap`, rounded up to `unit`.
int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
  const int64_t blocks = (total + cap - 1) / cap;
  const int64_t b = (total + blocks - 1) / blocks;
  return std::min(cap, (b + unit - 1) / unit * unit);
}

// Floats of B each task of the few-rows path reads at least (1 MB), and the
// most K blocks its non-transposed form splits into (partial sums per block).
constexpr int64_t kStreamGrain = int64_t{1} << 18;
constexpr int64_t kStreamBlocks = 16;

// M <= kSmallM: B is read once, in place. Transposed B: each C element is a
// dot product of contiguous rows, tasks own runs of B's rows. Else B's rows
// are cut into at most kStreamBlocks blocks of whole rows (how many depends on
// the shape only, so results do not depend on the thread count), each read
// front to back as one sequential stream; each block sums its rows'
// contributions into its own partial C, and the partials are added in block
// order. Small or shallow B (one block): tasks own runs of C's columns.
void gemm_few_rows(const Isa& isa, const Gemm& g, bool tiny) {
  const int64_t M = g.M, N = g.N, K = g.K;
  if (g.tb) {
    const float* A = g.A;
    int64_t lda = g.lda;
    if (g.ta && !(M == 1 && g.lda == 1)) {  // op(A)'s rows made contiguous
      float* a = tl_pack_a.get(static_cast<size_t>(M * K));
      for (int64_t k = 0; k < K; ++k)
        for (int64_t i = 0; i < M; ++i) a[i * K + k] = g.A[k * g.lda + i];
      A = a, lda = K;
    }
    const int64_t grain = tiny ? N : std::max<int64_t>(8, kStreamGrain / std::max<int64_t>(1, K) / 8 * 8);
    parallel_for(0, N, grain, [&](int64_t j0, int64_t j1) {
      isa.stream_dots(A, lda, M, K, g.B, g.ldb, j0, j1, g.alpha, g.beta, g.C, g.ldc);
    });
    return;
  }
  // xs[k * M + i] = alpha * op(A)[i][k].
  const float* xs = g.A;
  const bool direct = g.alpha == 1.f && (g.ta ? g.lda == M : M == 1);
  if (!direct) {
    float* x = tl_pack_a.get(static_cast<size_t>(M * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < M; ++i) x[k * M + i] = g.alpha * (g.ta ? g.A[k * g.lda + i] : g.A[i * g.lda + k]);
    xs = x;
  }
  // Blocks of whole sweeps, at least 64 rows and kStreamGrain floats each.
  const int64_t want = std::max<int64_t>({64, (K + kStreamBlocks - 1) / kStreamBlocks, kStreamGrain / N});
  const int64_t rows = (want + 7) / 8 * 8;
  const int64_t nb = (K + rows - 1) / rows;
  if (tiny || nb < 2) {
    // Few rows of B: tasks own runs of columns (in whole 16-float vectors) and add into C directly.
    const int64_t vecs = (N + 15) / 16;
    const int64_t grain = tiny ? vecs : std::max<int64_t>(4, kStreamGrain / 16 / K);
    parallel_for(0, vecs, grain, [&](int64_t v0, int64_t v1) {
      const int64_t j0 = v0 * 16, j1 = std::min(N, v1 * 16);
      scale_c(g.C + j0, g.ldc, M, j1 - j0, g.beta);
      isa.stream_rows(xs, M, g.B + j0, g.ldb, j1 - j0, 0, K, g.C + j0, g.ldc);
    });
    return;
  }
  float* part = tl_pack_b.get(static_cast<size_t>(nb * M * N));
  parallel_for(0, nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* acc = part + b * M * N;
      std::fill(acc, acc + M * N, 0.f);
      isa.stream_rows(xs, M, g.B, g.ldb, N, b * rows, std::min(K, (b + 1) * rows), acc, N);
    }
  });
  for (int64_t i = 0; i < M; ++i) {
    float* c = g.C + i * g.ldc;
    for (int64_t j = 0; j < N; ++j) {
      float s = part[i * N + j];
      for (int64_t b = 1; b < nb; ++b) s += part[(b * M + i) * N + j];
      c[j] = g.beta == 0.f ? s : g.beta * c[j] + s;
    }
  }
}

// Whether op(B) is read in place instead of packed: B not transposed, whole
// panels only, and few rows of A for each element of B (packing B costs a
// read and a write of it; in place, each row block of A reads it from memory
// once more). EYECANDY_GEMM_DIRECT=0/1 forces it off/on (where allowed).
bool use_direct_b(const Isa& isa, const Gemm& g) {
  static const int forced = [] {
    const char* e = std::getenv("EYECANDY_GEMM_DIRECT");
    return e && *e ? (*e == '1' ? 1 : 0) : -1;
  }();
  if (g.tb || g.N % isa.nr || forced == 0) return false;
  if (forced == 1) return true;
  return g.M <= kDirectMaxM;
}

}  // namespace

PackedB packed_b_layout(int64_t K, int64_t N) {
  static const Isa& isa = pick_isa();
  PackedB L;
  L.K = K, L.N = N, L.nr = isa.nr;
  L.kc = K > 0 ? balanced_block(K, isa.kc, 1) : 1;
  L.panels = (N + isa.nr - 1) / isa.nr;
  return L;
}

int gemm_mr() {
  static const Isa& isa = pick_isa();
  return isa.mr;
}

void gemm_packed(int64_t M, const float* A, int64_t lda, const PackedB& L, const float* Bp, float* C, int64_t ldc) {
  static const Isa& isa = pick_isa();
  if (M <= 0 || L.N <= 0) return;
  if (L.K <= 0) return scale_c(C, ldc, M, L.N, 0.f);
  const Gemm g{false, false, M, L.N, L.K, 1.f, A, nullptr, lda, 0, 0.f, C, ldc};
  const int64_t mc = std::min<int64_t>(isa.mc, (M + isa.mr - 1) / isa.mr * isa.mr);
  float* ap = tl_pack_a.get(static_cast<size_t>(mc * L.kc + kPackSlack));
  for (int64_t i0 = 0; i0 < M; i0 += mc)
    for (int64_t k0 = 0; k0 < L.K; k0 += L.kc)
      isa.block(g, i0, std::min(mc, M - i0), k0, std::min(L.kc, L.K - k0), 0, L.N, 0, L.panels,
                Bp + k0 * L.panels * L.nr, k0 == 0 ? 0.f : 1.f, ap);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.f) {
    scale_c(C, ldc, M, N, beta);
    return;
  }
  static const Isa& isa = pick_isa();
  const WorkspaceScope lease;
  const Gemm g{trans_a, trans_b, M, N, K, alpha, A, B, lda, ldb, beta, C, ldc};
  const int threads = num_threads();
  // Work per task must outweigh a pool hand-off; tiny products run inline.
  const bool tiny = M * N * K < (int64_t{1} << 18);

  if (M <= kSmallM) return gemm_few_rows(isa, g, tiny);

  if (use_direct_b(isa, g)) {
    // op(B) read in place: no packing pass over it (for few rows of A, that
    // pass costs as much as the product). Tasks own (row block, panel run)
    // pairs and walk the K slices, as below.
    // Tasks split the panels first, so that each panel of B is read from
    // memory by as few row blocks as possible; rows are split only when the
    // panels alone cannot feed every thread.
    const int64_t kc = balanced_block(K, isa.kc, 1);
    const int64_t panels = N / isa.nr;
    const int64_t mc_max = isa.mc;
    int64_t m_blocks = (M + mc_max - 1) / mc_max;
    int64_t n_split = tiny ? 1 : std::min(std::max<int64_t>(1, (2 * threads + m_blocks - 1) / m_blocks), std::max<int64_t>(1, panels / 4));
    if (!tiny && m_blocks * n_split < 2 * threads)
      m_blocks = std::min((M + isa.mr - 1) / isa.mr, (2 * threads + n_split - 1) / n_split);
    const int64_t mc = std::min<int64_t>(mc_max, ((M + m_blocks - 1) / m_blocks + isa.mr - 1) / isa.mr * isa.mr);
    m_blocks = (M + mc - 1) / mc;
    const int64_t per_task = (panels + n_split - 1) / n_split;
    const bool copy = g.ldb > kDirectMaxLdb;
    parallel_for(0, m_blocks * n_split, tiny ? m_blocks * n_split : 1, [&](int64_t t0, int64_t t1) {
      float* ap = tl_pack_a.get(static_cast<size_t>(mc * kc + kPackSlack));
      float* bbuf = copy ? tl_pack_b.get(static_cast<size_t>(kc * isa.nr)) : nullptr;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = t / n_split * mc, p0 = t % n_split * per_task, p1 = std::min(panels, p0 + per_task);
        for (int64_t k0 = 0; k0 < K && p0 < p1; k0 += kc)
          isa.block_direct(g, i0, std::min(mc, M - i0), k0, std::min(kc, K - k0), p0, p1, k0 == 0 ? beta : 1.f, ap,
                           bbuf);
      }
    });
    return;
  }

  // op(B) is packed for all of K (or, for very deep K, a super-block of kb
  // rows) nc columns at a time, kept within kBPackBudget; each task then walks
  // its rows of A through every K slice, reading A row blocks contiguously
  // (what matters for tall, skinny products such as im2col convolutions).
  const int64_t kc_max = balanced_block(K, isa.kc, 1);
  const int64_t nc_cap = std::max<int64_t>(8 * isa.nr, kBPackBudget / K / isa.nr * isa.nr);
  const int64_t nc_max = balanced_block(N, std::min<int64_t>(isa.nc, nc_cap), isa.nr);
  const int64_t panels_max = (nc_max + isa.nr - 1) / isa.nr;
  const int64_t kb_max = std::max(kc_max, kBPackBudget / (panels_max * isa.nr) / kc_max * kc_max);
  int64_t m_blocks = (M + isa.mc - 1) / isa.mc;
  if (!tiny && m_blocks < 4 * threads) m_blocks = (m_blocks + threads - 1) / threads * threads;  // even shares
  const int64_t mc = std::min<int64_t>(isa.mc, ((M + m_blocks - 1) / m_blocks + isa.mr - 1) / isa.mr * isa.mr);
  m_blocks = (M + mc - 1) / mc;
  float* bp = tl_pack_b.get(static_cast<size_t>(std::min(K, kb_max) * panels_max * isa.nr));

  for (int64_t j0 = 0; j0 < N; j0 += nc_max)
    for (int64_t kb0 = 0; kb0 < K; kb0 += kb_max) {
      const int64_t nc = std::min(nc_max, N - j0), kb = std::min(kb_max, K - kb0);
      const int64_t panels = (nc + isa.nr - 1) / isa.nr, k_slices = (kb + kc_max - 1) / kc_max;
      // The slice at k0 has its panels at (k0 - kb0) * panels * nr.
      auto pack = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t k0 = kb0 + t / panels * kc_max, p = t % panels;
          isa.pack_b(g, k0, std::min(kc_max, K - k0), j0, nc, p, p + 1, bp + (k0 - kb0) * panels * isa.nr);
        }
      };
      // Hand packing to the pool only in slabs of >= 64K floats.
      const int64_t items = k_slices * panels;
      parallel_for(0, items, tiny ? items : std::max<int64_t>(1, 65536 / (kc_max * isa.nr)), pack);

      // Enough tasks for every thread, without slicing B panels thinner than 4.
      int64_t n_split = std::max<int64_t>(1, (2 * threads + m_blocks - 1) / m_blocks);
      n_split = tiny ? 1 : std::min(n_split, std::max<int64_t>(1, panels / 4));
      const int64_t per_task = (panels + n_split - 1) / n_split;
      auto task = [&](int64_t t0, int64_t t1) {
        float* ap = tl_pack_a.get(static_cast<size_t>(mc * kc_max + kPackSlack));
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t i0 = t / n_split * mc, p0 = t % n_split * per_task, p1 = std::min(panels, p0 + per_task);
          for (int64_t k0 = kb0; k0 < kb0 + kb && p0 < p1; k0 += kc_max)
            isa.block(g, i0, std::min(mc, M - i0), k0, std::min(kc_max, K - k0), j0, nc, p0, p1,
                      bp + (k0 - kb0) * panels * isa.nr, k0 == 0 ? beta : 1.f, ap);
        }
      };
      parallel_for(0, m_blocks * n_split, tiny ? m_blocks * n_split : 1, task);
    }
}

}  // namespace ec::cpu
