// Winograd F(4x4, 3x3) on the CPU (see winograd.h), and the workspace.
//
// Layouts, for a block of T tiles starting at tile tb: V[pos][t][C] (the
// transformed inputs, 36 row-major T x C matrices), M[pos][t][K] (their
// products), U[pos] (the transformed filter of each point, a C x K matrix
// packed once per call in the micro-kernel's layout). The transforms work
// on channel vectors (NHWC keeps channels contiguous) and are compiled per ISA
// like the GEMM micro-kernel, picked at run time.
#include "winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "gemm.h"
#include "threadpool.h"

namespace ec::cpu {

void apply_epilogue(const Epilogue& ep, float* y, int64_t n);

int64_t workspace_cap_bytes() {
  static const int64_t cap = [] {
    const char* e = std::getenv("EYECANDY_WORKSPACE_MB");
    long mb = e && *e ? std::strtol(e, nullptr, 10) : 64;
    if (mb < 4) mb = 4;  // below this no convolution could run its smallest chunk
    return static_cast<int64_t>(mb) << 20;
  }();
  return cap;
}

namespace {

struct Buffer {
  float* p = nullptr;
  int64_t cap = 0;
  ~Buffer() { std::free(p); }
};
struct BufferSet {
  Buffer b[kSlotCount];
};
thread_local BufferSet tl_own;
thread_local BufferSet* tl_lease = nullptr;
std::mutex lease_mu;
std::vector<BufferSet*>& free_sets() {
  static auto* v = new std::vector<BufferSet*>();  // never destroyed: leases may outlive static teardown
  return *v;
}

}  // namespace

WorkspaceScope::WorkspaceScope() {
  if (tl_lease || on_pool_thread()) return;
  {
    std::lock_guard<std::mutex> lk(lease_mu);
    if (!free_sets().empty()) tl_lease = free_sets().back(), free_sets().pop_back();
  }
  if (!tl_lease) tl_lease = new BufferSet();
  owner_ = true;
}

WorkspaceScope::~WorkspaceScope() {
  if (!owner_) return;
  std::lock_guard<std::mutex> lk(lease_mu);
  free_sets().push_back(tl_lease);
  tl_lease = nullptr;
}

float* workspace(int slot, int64_t floats) {
  Buffer& b = (tl_lease ? *tl_lease : tl_own).b[slot];
  if (floats <= b.cap) return b.p;
  std::free(b.p);
  b.p = nullptr, b.cap = 0;
  const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
  b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!b.p) throw std::bad_alloc();
  b.cap = floats;
  return b.p;
}

namespace {

#define EC_W_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"

template <int VW>
struct WVec {
  typedef float type __attribute__((vector_size(VW * 4)));
};
template <>
struct WVec<1> {
  typedef float type;
};

template <class T>
EC_W_INLINE T ld(const float* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
EC_W_INLINE void st(float* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

// o = B^T d for one column of 6.
template <class T>
EC_W_INLINE void bt6(T d0, T d1, T d2, T d3, T d4, T d5, T* o) {
  o[0] = (d0 - d2) * 4.f - (d2 - d4);
  o[1] = (d3 + d4) - (d1 + d2) * 4.f;
  o[2] = (d4 - d3) + (d1 - d2) * 4.f;
  o[3] = (d4 - d2) + (d3 - d1) * 2.f;
  o[4] = (d4 - d2) - (d3 - d1) * 2.f;
  o[5] = (d1 - d3) * 4.f - (d3 - d5);
}
// o = A^T m for one column of 6.
template <class T>
EC_W_INLINE void at4(T m0, T m1, T m2, T m3, T m4, T m5, T* o) {
  const T a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
  o[0] = m0 + a + c;
  o[1] = b + d * 2.f;
  o[2] = a + c * 4.f;
  o[3] = b + d * 8.f + m5;
}
// o = G g for one column of 3.
template <class T>
EC_W_INLINE void g6(T g0, T g1, T g2, T* o) {
  const T s = g0 + g2;
  o[0] = g0 * 0.25f;
  o[1] = (s + g1) * (-1.f / 6);
  o[2] = (s - g1) * (-1.f / 6);
  o[3] = g0 * (1.f / 24) + g1 * (1.f / 12) + g2 * (1.f / 6);
  o[4] = g0 * (1.f / 24) - g1 * (1.f / 12) + g2 * (1.f / 6);
  o[5] = g2;
}

// One tile's channels [ch, ch + width of T): 6x6 input at xb (row stride rs,
// column stride C), rows [r0, r1) and columns [c0, c1) inside the image.
template <class T, bool Full>
EC_W_INLINE void in_tile(const float* xb, int64_t rs, int64_t cs, int r0, int r1, int c0, int c1, float* v,
                         int64_t vs) {
  T d[6][6];
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
#pragma GCC unroll 6
    for (int c = 0; c < 6; ++c)
      d[r][c] = (Full || (r >= r0 && r < r1 && c >= c0 && c < c1)) ? ld<T>(xb + r * rs + c * cs) : T{};
  T t[6][6];
#pragma GCC unroll 6
  for (int c = 0; c < 6; ++c) {
    T o[6];
    bt6<T>(d[0][c], d[1][c], d[2][c], d[3][c], d[4][c], d[5][c], o);
    for (int i = 0; i < 6; ++i) t[i][c] = o[i];
  }
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    T o[6];
    bt6<T>(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], o);
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) st<T>(v + (i * 6 + j) * vs, o[j]);
  }
}

// Tile index -> (n, th, tw) and its input origin.
struct TileAt {
  int64_t n, oh, ow, ih, iw;
};
EC_W_INLINE TileAt tile_at(const WinoConv& c, int64_t t) {
  const int64_t tw_n = (c.OW + 3) / 4, th_n = (c.OH + 3) / 4;
  const int64_t n = t / (th_n * tw_n), th = t / tw_n % th_n, tw = t % tw_n;
  return {n, th * 4, tw * 4, th * 4 - c.pt, tw * 4 - c.pl};
}

template <int VW>
EC_W_INLINE void input_tiles(const WinoConv& c, const float* x, int64_t t0, int64_t t1, int64_t tb, int64_t T,
                             float* V) {
  using Vec = typename WVec<VW>::type;
  const int64_t C = c.C, rs = c.IW * C, vs = T * C;
  for (int64_t t = t0; t < t1; ++t) {
    const TileAt a = tile_at(c, t);
    const int r0 = static_cast<int>(std::clamp<int64_t>(-a.ih, 0, 6)), r1 = static_cast<int>(std::clamp<int64_t>(c.IH - a.ih, r0, 6));
    const int c0 = static_cast<int>(std::clamp<int64_t>(-a.iw, 0, 6)), c1 = static_cast<int>(std::clamp<int64_t>(c.IW - a.iw, c0, 6));
    const bool full = r0 == 0 && r1 == 6 && c0 == 0 && c1 == 6;
    // May point outside the image; only in-range taps are read.
    const float* xb = x + ((a.n * c.IH + a.ih) * c.IW + a.iw) * C;
    float* v = V + (t - tb) * C;
    int64_t ch = 0;
    if (full) {
      for (; ch + VW <= C; ch += VW) in_tile<Vec, true>(xb + ch, rs, C, 0, 6, 0, 6, v + ch, vs);
      for (; ch < C; ++ch) in_tile<float, true>(xb + ch, rs, C, 0, 6, 0, 6, v + ch, vs);
    } else {
      for (; ch + VW <= C; ch += VW) in_tile<Vec, false>(xb + ch, rs, C, r0, r1, c0, c1, v + ch, vs);
      for (; ch < C; ++ch) in_tile<float, false>(xb + ch, rs, C, r0, r1, c0, c1, v + ch, vs);
    }
  }
}

template <class T>
EC_W_INLINE void out_tile(const float* m, int64_t ms, const float* bias, float* yb, int64_t rs, int64_t cs, int rows,
                          int cols) {
  T t[4][6];
#pragma GCC unroll 6
  for (int c = 0; c < 6; ++c) {
    T o[4];
    at4<T>(ld<T>(m + (0 * 6 + c) * ms), ld<T>(m + (1 * 6 + c) * ms), ld<T>(m + (2 * 6 + c) * ms),
           ld<T>(m + (3 * 6 + c) * ms), ld<T>(m + (4 * 6 + c) * ms), ld<T>(m + (5 * 6 + c) * ms), o);
    for (int i = 0; i < 4; ++i) t[i][c] = o[i];
  }
  const T b = bias ? ld<T>(bias) : T{};
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    T o[4];
    at4<T>(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], o);
    if (i < rows)
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        if (j < cols) st<T>(yb + i * rs + j * cs, o[j] + b);
  }
}

template <int VW>
EC_W_INLINE void output_tiles(const WinoConv& c, const float* M, int64_t t0, int64_t t1, int64_t tb, int64_t T,
                              const float* bias, float* y, const Epilogue& ep) {
  using Vec = typename WVec<VW>::type;
  const int64_t K = c.K, rs = c.OW * K, ms = T * K;
  for (int64_t t = t0; t < t1; ++t) {
    const TileAt a = tile_at(c, t);
    const int rows = static_cast<int>(std::min<int64_t>(4, c.OH - a.oh)), cols = static_cast<int>(std::min<int64_t>(4, c.OW - a.ow));
    float* yb = y + ((a.n * c.OH + a.oh) * c.OW + a.ow) * K;
    const float* m = M + (t - tb) * K;
    int64_t k = 0;
    for (; k + VW <= K; k += VW) out_tile<Vec>(m + k, ms, bias ? bias + k : nullptr, yb + k, rs, K, rows, cols);
    for (; k < K; ++k) out_tile<float>(m + k, ms, bias ? bias + k : nullptr, yb + k, rs, K, rows, cols);
    if (ep.kind != Epilogue::Kind::None)
      for (int i = 0; i < rows; ++i) apply_epilogue(ep, yb + i * rs, cols * K);
  }
}

// Floats from one point's packed filter to the next: padded off a power of
// two (with 36 streams 2^k apart every write would land in the same cache sets).
int64_t point_stride(const PackedB& L) { return L.floats() + 32; }

// One filter row ci, columns [k, k + width of T): all 6x6 points of rows [i0, i1).
template <class T>
EC_W_INLINE void filter_one(const float* w, int64_t K, int64_t tap, int64_t ci, int64_t k, const PackedB& L, float* U,
                            int64_t us, int i0, int i1) {
  const float* g = w + ci * K + k;
  T t[6][3];
#pragma GCC unroll 3
  for (int kw = 0; kw < 3; ++kw) {
    T o[6];
    g6<T>(ld<T>(g + (0 * 3 + kw) * tap), ld<T>(g + (1 * 3 + kw) * tap), ld<T>(g + (2 * 3 + kw) * tap), o);
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) t[i][kw] = o[i];
  }
  const int64_t off = L.at(ci, k);
  for (int i = i0; i < i1; ++i) {
    T o[6];
    g6<T>(t[i][0], t[i][1], t[i][2], o);
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) st<T>(U + ((i - i0) * 6 + j) * us + off, o[j]);
  }
}

// Rows [c0, c1) of the filter matrices of transform rows [i0, i1) (point
// (i, j) at U + ((i - i0) * 6 + j) * stride) from w [3,3,C,K] (HWIO).
template <int VW>
EC_W_INLINE void filter_rows(const WinoConv& c, const float* w, int64_t c0, int64_t c1, const PackedB& L, float* U,
                             int i0, int i1) {
  using Vec = typename WVec<VW>::type;
  const int64_t K = c.K, tap = c.C * K, us = point_stride(L);
  // Vector runs must stay inside one nr-wide panel of the packed layout.
  // Rows inner: consecutive rows of one panel are adjacent, so each output
  // stream is written sequentially.
  const bool vec_ok = L.nr % VW == 0;
  int64_t k = 0;
  if (vec_ok)
    for (; k + VW <= K; k += VW)
      for (int64_t ci = c0; ci < c1; ++ci) filter_one<Vec>(w, K, tap, ci, k, L, U, us, i0, i1);
  for (; k < K; ++k)
    for (int64_t ci = c0; ci < c1; ++ci) filter_one<float>(w, K, tap, ci, k, L, U, us, i0, i1);
}

struct WinoIsa {
  void (*in)(const WinoConv&, const float*, int64_t, int64_t, int64_t, int64_t, float*);
  void (*out)(const WinoConv&, const float*, int64_t, int64_t, int64_t, int64_t, const float*, float*,
              const Epilogue&);
  void (*filt)(const WinoConv&, const float*, int64_t, int64_t, const PackedB&, float*, int, int);
};

#define EC_WINO_ISA(name, attr, VW)                                                                              \
  attr void name##_in(const WinoConv& c, const float* x, int64_t t0, int64_t t1, int64_t tb, int64_t T,         \
                      float* V) {                                                                               \
    input_tiles<VW>(c, x, t0, t1, tb, T, V);                                                                    \
  }                                                                                                             \
  attr void name##_out(const WinoConv& c, const float* M, int64_t t0, int64_t t1, int64_t tb, int64_t T,        \
                       const float* bias, float* y, const Epilogue& ep) {                                       \
    output_tiles<VW>(c, M, t0, t1, tb, T, bias, y, ep);                                                         \
  }                                                                                                             \
  attr void name##_filt(const WinoConv& c, const float* w, int64_t c0, int64_t c1, const PackedB& L, float* U,   \
                        int i0, int i1) {                                                                       \
    filter_rows<VW>(c, w, c0, c1, L, U, i0, i1);                                                                \
  }                                                                                                             \
  const WinoIsa name##_wino = {name##_in, name##_out, name##_filt};

#if defined(__x86_64__) || defined(__i386__)
EC_WINO_ISA(avx512, __attribute__((target("avx512f,avx2,fma"))), 16)
EC_WINO_ISA(avx2, __attribute__((target("avx2,fma"))), 8)
#endif
EC_WINO_ISA(generic, , 4)

const WinoIsa& pick() {
#if defined(__x86_64__) || defined(__i386__)
  if (isa_rank() >= 3) return avx512_wino;
  if (isa_rank() >= 2) return avx2_wino;
#endif
  return generic_wino;
}

// Floats of the shared part: packed filters (all 36 points, or with `grouped`
// one transform row of 6 at a time), plus the transposed filter when flipping.
int64_t shared_floats(const WinoConv& c, bool flip, bool grouped) {
  const PackedB L = packed_b_layout(c.C, c.K);
  return (grouped ? 6 : 36) * point_stride(L) + (flip ? 9 * c.C * c.K : 0) + 16;
}
int64_t per_tile_floats(const WinoConv& c) { return 36 * (c.C + c.K); }

int64_t round_block(int64_t t, int64_t tiles) {
  const int64_t mr = gemm_mr();
  t = std::max<int64_t>(mr, t / mr * mr);
  return std::min(t, (tiles + mr - 1) / mr * mr);
}

}  // namespace

// Blocks whose V and M fit in about 1.5 MB (a core's L2 and some), one per
// thread; at least 4 register-tile rows so each GEMM amortises its filter reads.
WinoPlan wino_plan_small(const WinoConv& c) {
  const int64_t threads = num_threads();
  const int64_t left = workspace_cap_bytes() / 4 - shared_floats(c, true, false);
  constexpr int64_t kCacheFloats = (int64_t{3} << 19) / 4;
  int64_t t = round_block(std::max<int64_t>(4 * gemm_mr(), kCacheFloats / per_tile_floats(c)), c.tiles());
  t = std::min(t, left / threads / per_tile_floats(c) / gemm_mr() * gemm_mr());
  if (t <= 0) return {};
  return {t, true};
}

// As many tiles as the workspace holds (at most all of them), one block at a
// time, the filters transformed one transform row (6 points) at a time so
// that they stay in cache for their GEMMs.
WinoPlan wino_plan_large(const WinoConv& c) {
  const int64_t left = workspace_cap_bytes() / 4 - shared_floats(c, true, true);
  int64_t t = left / per_tile_floats(c) / gemm_mr() * gemm_mr();
  if (t <= 0) return {};
  return {std::min(t, (c.tiles() + gemm_mr() - 1) / gemm_mr() * gemm_mr()), false};
}

// As the large plan, with room for all 36 points' filters.
WinoPlan wino_plan_whole(const WinoConv& c) {
  const int64_t left = workspace_cap_bytes() / 4 - shared_floats(c, true, false);
  int64_t t = left / per_tile_floats(c) / gemm_mr() * gemm_mr();
  if (t <= 0) return {};
  return {std::min(t, (c.tiles() + gemm_mr() - 1) / gemm_mr() * gemm_mr()), false, true};
}

void winograd_conv(const WinoConv& c, const WinoPlan& p, const float* x, const float* w, bool flip,
                   const float* bias, float* y, const Epilogue& ep) {
  static const WinoIsa& isa = pick();
  const int64_t tiles = c.tiles();
  if (tiles == 0 || c.K == 0) return;
  const PackedB L = packed_b_layout(c.C, c.K);
  const int64_t us = point_stride(L);
  const bool grouped = !p.per_thread && !p.all_points;
  const int64_t shared_n = shared_floats(c, flip, grouped);
  float* shared = workspace(kSlotShared, shared_n + (!p.per_thread ? p.block * per_tile_floats(c) : 0));
  float* U = shared;
  // Flipped: w is [3,3,K,C]; write the HWIO filter of the transposed conv,
  // wt[tap][ci][k] = w[8 - tap][k][ci], next to U.
  if (flip) {
    float* wt = U + (grouped ? 6 : 36) * us;
    const int64_t C = c.C, K = c.K;
    // In 16 x 16 blocks through a local tile: each cache line of w and wt is
    // read or written whole, once (power-of-two strides alias in the cache).
    constexpr int64_t B = 16;
    const int64_t cb = (C + B - 1) / B, kb = (K + B - 1) / B;
    parallel_for(0, 9 * cb, 1, [&](int64_t a, int64_t b) {
      float tile[B][B];
      for (int64_t r = a; r < b; ++r) {
        const int64_t tap = r / cb, c0 = r % cb * B, c1 = std::min(C, c0 + B);
        const float* src = w + (8 - tap) * K * C;
        float* dst = wt + tap * C * K;
        for (int64_t k0 = 0; k0 < kb * B; k0 += B) {
          const int64_t k1 = std::min(K, k0 + B);
          for (int64_t k = k0; k < k1; ++k)
            for (int64_t ci = c0; ci < c1; ++ci) tile[k - k0][ci - c0] = src[k * C + ci];
          for (int64_t ci = c0; ci < c1; ++ci)
            for (int64_t k = k0; k < k1; ++k) dst[ci * K + k] = tile[k - k0][ci - c0];
        }
      }
    });
    w = wt;
  }
  if (c.K % L.nr) std::memset(U, 0, sizeof(float) * (grouped ? 6 : 36) * us);  // the padding columns
  auto transform_filters = [&](int i0, int i1) {
    parallel_for(0, c.C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, c.K)),
                 [&](int64_t a, int64_t b) { isa.filt(c, w, a, b, L, U, i0, i1); });
  };
  if (!grouped) transform_filters(0, 6);

  const int64_t T = p.block, C = c.C, K = c.K;
  const int64_t blocks = (tiles + T - 1) / T;
  // Points [p0, p1); their filters at U + (q - u0) * us.
  auto gemms = [&](float* V, float* M, int64_t n, int64_t p0, int64_t p1, int64_t u0) {
    for (int64_t q = p0; q < p1; ++q) gemm_packed(n, V + q * T * C, C, L, U + (q - u0) * us, M + q * T * K, K);
  };
  if (p.per_thread) {
    parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      float* V = workspace(kSlotTiles, T * per_tile_floats(c));
      float* M = V + 36 * T * C;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t tb = b * T, te = std::min(tiles, tb + T);
        isa.in(c, x, tb, te, tb, T, V);
        gemms(V, M, te - tb, 0, 36, 0);
        isa.out(c, M, tb, te, tb, T, bias, y, ep);
      }
    });
    return;
  }
  float* V = shared + shared_n;
  float* M = V + 36 * T * C;
  const int64_t tgrain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, 36 * std::max(C, K)));
  for (int64_t tb = 0; tb < tiles; tb += T) {
    const int64_t te = std::min(tiles, tb + T);
    parallel_for(tb, te, tgrain, [&](int64_t a, int64_t b) { isa.in(c, x, a, b, tb, T, V); });
    if (!grouped)  // all 36 filters transformed above
      parallel_for(0, 36, 1, [&](int64_t a, int64_t b) { gemms(V, M, te - tb, a, b, 0); });
    else
      for (int i = 0; i < 6; ++i) {
        transform_filters(i, i + 1);
        parallel_for(6 * i, 6 * i + 6, 1, [&](int64_t a, int64_t b) { gemms(V, M, te - tb, a, b, 6 * i); });
      }
    parallel_for(tb, te, tgrain, [&](int64_t a, int64_t b) { isa.out(c, M, a, b, tb, T, bias, y, ep); });
  }
}

}  // namespace ec::cpu
