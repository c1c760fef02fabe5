// Gram matrix for style losses: F[N,H,W,C] -> G[N,C,C] = F_n^T F_n / (H*W).
//
// Each batch item is a row-major [P=H*W, C] matrix. Forward is a symmetric
// rank-P update computed on G's upper triangle with F read once (below);
// backward is dF = F (dG + dG^T) / P per item, because G is symmetric in F:
// rows of F times a small matrix, unpacked, or the GEMM for wide C.
#include <algorithm>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"
#include "winograd.h"

namespace ec::cpu {

namespace {

#define EC_INLINE inline __attribute__((always_inline))

// G += F^T F over rows [p0, p1) of F (P x C, row-major, C a multiple of VW;
// R divides VW),
// upper triangle only: register tiles of R rows of G by up to JV vectors of
// columns, skipped where they lie wholly below the diagonal (about 40% of the
// work for C = 64). Rows go in chunks that stay in L2 while every tile reads
// them, so F streams from memory once, unpacked. Rows of G below the diagonal
// inside a computed tile get values too; the caller mirrors the upper half.
template <int VW, int R, int JV>
struct Syrk {
  // Unaligned (rows of F and G start anywhere a float can).
  typedef float V __attribute__((vector_size(VW * 4), aligned(4)));

  template <int NV>
  static EC_INLINE void tile(const float* __restrict f, int64_t c, int64_t p0, int64_t p1, int64_t i0, int64_t j0,
                             float* __restrict g) {
    // Each chunk sums from zero and is added to G at the end: two-level
    // summation, so the rounding error grows with the chunk, not with P.
    V acc[R][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V{};
    for (int64_t p = p0; p < p1; ++p) {
      const float* row = f + p * c;
      V x[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) x[v] = *reinterpret_cast<const V*>(row + j0 + v * VW);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const float a = row[i0 + r];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] += x[v] * a;
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(g + (i0 + r) * c + j0 + v * VW) += acc[r][v];
  }

  static EC_INLINE void rows(const float* f, int64_t c, int64_t p0, int64_t p1, float* g) {
    // About 64 KB of F per chunk (256 rows at 64 channels).
    const int64_t chunk = std::max<int64_t>(16, 16384 / c);
    for (int64_t q0 = p0; q0 < p1; q0 += chunk) {
      const int64_t q1 = std::min(p1, q0 + chunk);
      for (int64_t j0 = 0; j0 < c; j0 += JV * VW) {
        const int64_t j1 = std::min(c, j0 + JV * VW);
        for (int64_t i0 = 0; i0 < j1; i0 += R) {
          switch ((j1 - j0) / VW) {
            case 1: tile<1>(f, c, q0, q1, i0, j0, g); break;
            case 2: tile<2>(f, c, q0, q1, i0, j0, g); break;
            case 3: tile<(JV >= 3 ? 3 : 1)>(f, c, q0, q1, i0, j0, g); break;
            default: tile<JV>(f, c, q0, q1, i0, j0, g); break;
          }
        }
      }
    }
  }
};

// D[p, :] = F[p, :] S for rows [p0, p1) of F and D (P x C) and a C x C matrix
// S small enough to stay in cache: register tiles of R rows by NV vectors, so
// F is read and D written once, unpacked (the packed GEMM copies F first).
template <int VW, int NVMAX>
struct RowsTimes {
  typedef float V __attribute__((vector_size(VW * 4), aligned(4)));

  template <int R, int NV>
  static EC_INLINE void tile(const float* __restrict f, const float* __restrict s, int64_t c, int64_t p, int64_t j0,
                             float* __restrict d) {
    V acc[R][NV];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V{};
    for (int64_t i = 0; i < c; ++i) {
      V x[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) x[v] = *reinterpret_cast<const V*>(s + i * c + j0 + v * VW);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const float a = f[(p + r) * c + i];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] += x[v] * a;
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(d + (p + r) * c + j0 + v * VW) = acc[r][v];
  }

  template <int R>
  static EC_INLINE void columns(const float* f, const float* s, int64_t c, int64_t p, float* d) {
    for (int64_t j0 = 0; j0 < c; j0 += NVMAX * VW) {
      switch (std::min<int64_t>(NVMAX, (c - j0) / VW)) {
        case 1: tile<R, 1>(f, s, c, p, j0, d); break;
        case 2: tile<R, 2>(f, s, c, p, j0, d); break;
        case 3: tile<R, (NVMAX >= 3 ? 3 : 1)>(f, s, c, p, j0, d); break;
        default: tile<R, NVMAX>(f, s, c, p, j0, d); break;
      }
    }
  }

  static EC_INLINE void rows(const float* f, const float* s, int64_t c, int64_t p0, int64_t p1, float* d) {
    int64_t p = p0;
    for (; p + 4 <= p1; p += 4) columns<4>(f, s, c, p, d);
    for (; p < p1; ++p) columns<1>(f, s, c, p, d);
  }
};

typedef void (*SyrkRows)(const float*, int64_t, int64_t, int64_t, float*);
typedef void (*TimesRows)(const float*, const float*, int64_t, int64_t, int64_t, float*);
struct SyrkIsa {
  int vw;
  SyrkRows rows;
  TimesRows times;
};

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f,avx2,fma"))) void syrk_avx512(const float* f, int64_t c, int64_t p0, int64_t p1,
                                                             float* g) {
  Syrk<16, 4, 4>::rows(f, c, p0, p1, g);
}
__attribute__((target("avx2,fma"))) void syrk_avx2(const float* f, int64_t c, int64_t p0, int64_t p1, float* g) {
  Syrk<8, 4, 2>::rows(f, c, p0, p1, g);
}
__attribute__((target("avx512f,avx2,fma"))) void times_avx512(const float* f, const float* s, int64_t c, int64_t p0,
                                                              int64_t p1, float* d) {
  RowsTimes<16, 4>::rows(f, s, c, p0, p1, d);
}
__attribute__((target("avx2,fma"))) void times_avx2(const float* f, const float* s, int64_t c, int64_t p0, int64_t p1,
                                                    float* d) {
  RowsTimes<8, 2>::rows(f, s, c, p0, p1, d);
}
#endif
void syrk_generic(const float* f, int64_t c, int64_t p0, int64_t p1, float* g) { Syrk<4, 4, 2>::rows(f, c, p0, p1, g); }
void times_generic(const float* f, const float* s, int64_t c, int64_t p0, int64_t p1, float* d) {
  RowsTimes<4, 2>::rows(f, s, c, p0, p1, d);
}

SyrkIsa pick_syrk() {
#if defined(__x86_64__) || defined(__i386__)
  if (isa_rank() >= 3) return {16, syrk_avx512, times_avx512};
  if (isa_rank() >= 2) return {8, syrk_avx2, times_avx2};
#endif
  return {4, syrk_generic, times_generic};
}

}  // namespace

void gram_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (c == 0 || n == 0) return;
  const float scale = 1.f / static_cast<float>(p);
  static const SyrkIsa isa = pick_syrk();
  // Channel counts of real networks are multiples of 16; others take the general GEMM.
  if (c % isa.vw != 0) {
    for (int64_t b = 0; b < n; ++b) {
      const float* fb = f.data() + b * p * c;
      // op(A) = F^T is C x P (A stored as P x C, lda = C); op(B) = F is P x C.
      gemm(true, false, c, c, p, scale, fb, c, fb, c, 0.f, out.data() + b * c * c, c);
    }
    return;
  }
  // P runs to hundreds of thousands of pixels while G is only C x C: the
  // threads split P, share 0 summing into G itself and share s into partial
  // s - 1, and the partials are added after.
  const WorkspaceScope lease;
  const int64_t shares = std::min<int64_t>(num_threads(), std::max<int64_t>(1, p * c * c / (int64_t{1} << 21)));
  float* partial = shares > 1 ? workspace(kSlotDcols, (shares - 1) * c * c) : nullptr;
  for (int64_t b = 0; b < n; ++b) {
    const float* fb = f.data() + b * p * c;
    float* gb = out.data() + b * c * c;
    parallel_for(0, shares, 1, [&](int64_t s0, int64_t s1) {
      float* g = s0 == 0 ? gb : partial + (s0 - 1) * c * c;
      std::fill(g, g + c * c, 0.f);
      isa.rows(fb, c, p * s0 / shares, p * s1 / shares, g);
      // Shares this chunk took over add nothing of their own.
      for (int64_t s = s0 + 1; s < s1; ++s) std::fill_n(partial + (s - 1) * c * c, c * c, 0.f);
    });
    for (int64_t s = 1; s < shares; ++s) {
      const float* src = partial + (s - 1) * c * c;
      for (int64_t i = 0; i < c; ++i)
        for (int64_t j = i; j < c; ++j) gb[i * c + j] += src[i * c + j];
    }
    // Scale the upper triangle and mirror it.
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = i; j < c; ++j) gb[i * c + j] *= scale;
      for (int64_t j = 0; j < i; ++j) gb[i * c + j] = gb[j * c + i];
    }
  }
}

void gram_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* df = din.empty() ? nullptr : din[0];
  if (!df) return;
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (df->numel() == 0) return;
  const float scale = 1.f / static_cast<float>(p);
  static const SyrkIsa isa = pick_syrk();
  // Up to 256 channels (S within L2) F times S runs unpacked; wider, the packed GEMM.
  const bool direct = c % isa.vw == 0 && c <= 256;
  std::vector<float> sym(c * c);
  for (int64_t b = 0; b < n; ++b) {
    const float* g = dy.data() + b * c * c;
    // dG + dG^T: the loss may not treat G as symmetric, so both halves count.
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < c; ++j) sym[i * c + j] = (g[i * c + j] + g[j * c + i]) * (direct ? scale : 1.f);
    const float* fb = f.data() + b * p * c;
    float* db = df->data() + b * p * c;
    if (!direct) {
      gemm(false, false, p, c, c, scale, fb, c, sym.data(), c, 0.f, db, c);
      continue;
    }
    // Chunks of 64 rows (a multiple of the 4-row tile), at least 16 per thread.
    const int64_t tiles = (p + 63) / 64;
    parallel_for(0, tiles, std::max<int64_t>(1, tiles / (16 * num_threads())), [&](int64_t t0, int64_t t1) {
      isa.times(fb, sym.data(), c, t0 * 64, std::min(p, t1 * 64), db);
    });
  }
}

}  // namespace ec::cpu
