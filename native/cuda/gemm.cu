// Shared-memory tiled SGEMM with implicit-convolution A operands (gemm.cuh).
//
// Tile: BM x BN = 128 x 64 outputs per block of 256 threads, BK = 16 deep,
// each thread accumulating an 8 x 4 register block (rows tr*4..+3 and
// 64+tr*4..+3, columns tc*4..+3). Tiles are double-buffered in shared memory:
// while one buffer feeds the FMAs the next tile's global loads are in flight
// in registers, so each k-step costs one __syncthreads.
//
// A loaders fill the As[k][i] tile (k-major so the inner loop reads 4+4
// consecutive rows as two float4s). Row loaders give each thread one row and
// 8 consecutive k (NHWC channels of one pixel are consecutive in k); column
// loaders give each thread one k and 8 consecutive rows (the transposed forms).
// Conv loaders decompose an index once per 8 elements (32-bit) and load the
// 8 as two float4s when they are consecutive channels of one tap.
//
// TF32 (QueueOptions::tf32, opt-in since it changes results at the 1e-3
// level): the same tiles and loaders, but each k-step is two WMMA m16n16k8
// TF32 products per fragment. The 8 warps cover the 128 x 64 tile as 4 x 2
// blocks of 32 x 32 (2 x 2 fragments each); the epilogue goes through shared
// memory in two halves of 64 rows so bias, alpha and bounds stay as above.
#include <mma.h>

#include "gemm.cuh"
#include "reduce.cuh"

namespace ec::cuda {

namespace {

constexpr int BM = 128, BN = 64, BK = 16;

struct Params {
  int64_t M, N, K;
  const float* b;
  int64_t ldb, b_z;
  float* c;
  int64_t ldc, c_z, c_split;
  const float* bias;
  int64_t bias_z;
  float alpha;
  int splits;
  int64_t k_chunk;
  bool b_vec4;
  bool clamp;
  float lo, hi;
};

__device__ __forceinline__ float finish(const Params& p, float v) {
  return p.clamp ? fminf(fmaxf(v, p.lo), p.hi) : v;
}

struct NoRow {};

// A(i, k) = p[z*stride_z + i*ld + k]
struct RowsA {
  static constexpr bool kRowLoader = true;
  const float* p;
  int64_t ld, stride_z, M;
  struct Row { const float* q; bool ok; };
  __device__ Row row(int z, int64_t i) const { return {p + z * stride_z + i * ld, i < M}; }
  __device__ void load(const Row& r, int, int64_t, int64_t k0, int64_t kend, float (&v)[8]) const {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = (r.ok && k0 + e < kend) ? __ldg(r.q + k0 + e) : 0.f;
  }
};

// A(i, k) = p[z*stride_z + k*ld + i]
struct ColsA {
  static constexpr bool kRowLoader = false;
  const float* p;
  int64_t ld, stride_z, M;
  using Row = NoRow;
  __device__ Row row(int, int64_t) const { return {}; }
  __device__ void load(const Row&, int z, int64_t i0, int64_t k, int64_t kend, float (&v)[8]) const {
    const float* q = p + z * stride_z + k * ld;
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = (k < kend && i0 + e < M) ? __ldg(q + i0 + e) : 0.f;
  }
};

// Where the forward gather of output pixel (n, oh, ow) starts.
struct FwdPixel { const float* base; int ih0, iw0; bool ok; };

__device__ __forceinline__ FwdPixel fwd_pixel(const ConvGeom& g, const float* x, int z, int64_t m, int64_t rows) {
  FwdPixel r{x, 0, 0, m < rows};
  if (!r.ok) return r;
  // 32-bit division (conv2d.cu keeps pixel counts below 2^31): 64-bit
  // division is a long software sequence on GPUs.
  const int hw = g.OH * g.OW, mi = static_cast<int>(m);
  const int n = mi / hw, rem = mi - n * hw, oh = rem / g.OW, ow = rem - oh * g.OW;
  r.base = x + static_cast<int64_t>(n) * g.H * g.W * g.C + static_cast<int64_t>(z) * g.Cg;
  r.ih0 = oh * g.sh - g.pt;
  r.iw0 = ow * g.sw - g.pl;
  return r;
}

// x at tap (kh, kw) of a forward window, or null in the padding.
__device__ __forceinline__ const float* fwd_tap(const ConvGeom& g, const FwdPixel& r, int kh, int kw) {
  const int ih = r.ih0 + kh * g.dh, iw = r.iw0 + kw * g.dw;
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return nullptr;
  return r.base + (static_cast<int64_t>(ih) * g.W + iw) * g.C;
}

// v[e] = element c of tap k = (tap, c) for k = k0..k0+7 below `limit`, where
// tap_ptr(kh, kw) gives the tap's first element or null (padding, 0). When
// all 8 lie in one tap (inner % 8 == 0, the common case) that is 8
// consecutive floats: two float4 loads where aligned. Otherwise the pair
// (tap, c) steps with carries, so only the first index is divided.
template <class Tap>
__device__ __forceinline__ void gather8(const ConvGeom& g, int64_t k0, int64_t limit, int inner, Tap tap_ptr,
                                        float (&v)[8]) {
  const int tap = static_cast<int>(k0) / inner;  // k < 2^31 (checked in conv2d.cu)
  int c = static_cast<int>(k0) - tap * inner;
  int kh = tap / g.KW, kw = tap - kh * g.KW;
  const float* px = tap_ptr(kh, kw);
  if (c + 8 <= inner && k0 + 8 <= limit) {
    const float* q = px ? px + c : nullptr;
    if (q && (reinterpret_cast<uintptr_t>(q) & 15) == 0) {
      const float4 a = __ldg(reinterpret_cast<const float4*>(q)), b = __ldg(reinterpret_cast<const float4*>(q + 4));
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = q ? __ldg(q + e) : 0.f;
    }
    return;
  }
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    v[e] = (px && k0 + e < limit) ? __ldg(px + c) : 0.f;
    if (++c == inner) {
      c = 0;
      if (++kw == g.KW) kw = 0, ++kh;
      px = tap_ptr(kh, kw);
    }
  }
}

// Forward: A(m, (tap, c)) = x[n, oh*sh-pt+kh*dh, ow*sw-pl+kw*dw, z*Cg + c].
struct ConvFwdA {
  static constexpr bool kRowLoader = true;
  ConvGeom g;
  const float* x;
  int64_t M;
  using Row = FwdPixel;
  __device__ Row row(int z, int64_t m) const { return fwd_pixel(g, x, z, m, M); }
  __device__ void load(const Row& r, int, int64_t, int64_t k0, int64_t kend, float (&v)[8]) const {
    if (!r.ok || k0 >= kend) {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = 0.f;
      return;
    }
    gather8(g, k0, kend, g.Cg, [&](int kh, int kw) { return fwd_tap(g, r, kh, kw); }, v);
  }
};

// dX: A(p, (tap, j)) = dy[n, oh, ow, z*Og + j] where output pixel (oh, ow)
// reads input pixel p through tap (kh, kw), else 0.
struct ConvDxA {
  static constexpr bool kRowLoader = true;
  ConvGeom g;
  const float* dy;
  int64_t M;
  struct Row { const float* base; int th0, tw0; bool ok; };
  __device__ Row row(int z, int64_t p) const {
    Row r{dy, 0, 0, p < M};
    if (!r.ok) return r;
    const int hw = g.H * g.W, pi = static_cast<int>(p);
    const int n = pi / hw, rem = pi - n * hw, ih = rem / g.W, iw = rem - ih * g.W;
    r.base = dy + static_cast<int64_t>(n) * g.OH * g.OW * g.Cout + static_cast<int64_t>(z) * g.Og;
    r.th0 = ih + g.pt;
    r.tw0 = iw + g.pl;
    return r;
  }
  __device__ const float* tap(const Row& r, int kh, int kw) const {
    const int th = r.th0 - kh * g.dh, tw = r.tw0 - kw * g.dw;
    if (th < 0 || tw < 0 || th % g.sh || tw % g.sw) return nullptr;
    const int oh = th / g.sh, ow = tw / g.sw;
    if (oh >= g.OH || ow >= g.OW) return nullptr;
    return r.base + (static_cast<int64_t>(oh) * g.OW + ow) * g.Cout;
  }
  __device__ void load(const Row& r, int, int64_t, int64_t k0, int64_t kend, float (&v)[8]) const {
    if (!r.ok || k0 >= kend) {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = 0.f;
      return;
    }
    gather8(g, k0, kend, g.Og, [&](int kh, int kw) { return tap(r, kh, kw); }, v);
  }
};

// dW: A((tap, c), m) = ConvFwdA(m, (tap, c)); rows M = KH*KW*Cg, k = output pixel.
struct ConvDwA {
  static constexpr bool kRowLoader = false;
  ConvGeom g;
  const float* x;
  int64_t M, pixels;
  using Row = NoRow;
  __device__ Row row(int, int64_t) const { return {}; }
  __device__ void load(const Row&, int z, int64_t i0, int64_t m, int64_t kend, float (&v)[8]) const {
    const FwdPixel r = fwd_pixel(g, x, z, m, kend);
    if (!r.ok || i0 >= M) {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = 0.f;
      return;
    }
    gather8(g, i0, M, g.Cg, [&](int kh, int kw) { return fwd_tap(g, r, kh, kw); }, v);
  }
};

template <class A, bool kTf32>
__global__ void __launch_bounds__(256) gemm_kernel(const A a, const Params p) {
  __shared__ __align__(32) float As[2][BK][BM];
  __shared__ __align__(32) float Bs[2][BK][BN];
  const int tid = threadIdx.x;
  const int z = blockIdx.z / p.splits, split = blockIdx.z - z * p.splits;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * BM, n0 = static_cast<int64_t>(blockIdx.y) * BN;
  const int64_t kbeg = split * p.k_chunk;
  const int64_t kend = kbeg + p.k_chunk < p.K ? kbeg + p.k_chunk : p.K;
  const float* B = p.b + z * p.b_z;

  // Which part of the tiles this thread loads.
  const int a_i = A::kRowLoader ? (tid & (BM - 1)) : (tid & 15) * 8;
  const int a_k = A::kRowLoader ? (tid >> 7) * 8 : (tid >> 4);
  const int b_k = tid >> 4, b_j = (tid & 15) * 4;
  const typename A::Row arow = a.row(z, m0 + a_i);
  float ra[8], rb[4];

  auto load = [&](int64_t k0) {
    a.load(arow, z, m0 + a_i, k0 + a_k, kend, ra);
    const int64_t k = k0 + b_k, j = n0 + b_j;
    const float* q = B + k * p.ldb + j;
    if (p.b_vec4 && k < kend && j + 3 < p.N) {
      const float4 t = __ldg(reinterpret_cast<const float4*>(q));
      rb[0] = t.x, rb[1] = t.y, rb[2] = t.z, rb[3] = t.w;
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) rb[e] = (k < kend && j + e < p.N) ? __ldg(q + e) : 0.f;
    }
  };
  auto store = [&](int buf) {
    if (A::kRowLoader) {
#pragma unroll
      for (int e = 0; e < 8; ++e) As[buf][a_k + e][a_i] = ra[e];
    } else {
      *reinterpret_cast<float4*>(&As[buf][a_k][a_i]) = make_float4(ra[0], ra[1], ra[2], ra[3]);
      *reinterpret_cast<float4*>(&As[buf][a_k][a_i + 4]) = make_float4(ra[4], ra[5], ra[6], ra[7]);
    }
    *reinterpret_cast<float4*>(&Bs[buf][b_k][b_j]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
  };

  const int tr = tid >> 4, tc = tid & 15;
  float acc[8][4];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
  namespace wmma = nvcuda::wmma;
  const int warp = tid >> 5, wr = warp & 3, wc = warp >> 2;  // TF32: rows 32*wr.., columns 32*wc..
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> cf[2][2];
  if constexpr (kTf32)
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 2; ++ni) wmma::fill_fragment(cf[mi][ni], 0.f);

  const int64_t ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
  if (ntiles > 0) {
    load(kbeg);
    store(0);
  }
  __syncthreads();
  for (int64_t t = 0; t < ntiles; ++t) {
    const int buf = static_cast<int>(t & 1);
    if (t + 1 < ntiles) load(kbeg + (t + 1) * BK);
    if constexpr (kTf32) {
#pragma unroll
      for (int ks = 0; ks < BK; ks += 8) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> af[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bf[2];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
          wmma::load_matrix_sync(af[mi], &As[buf][ks][32 * wr + 16 * mi], BM);
#pragma unroll
          for (int e = 0; e < af[mi].num_elements; ++e) af[mi].x[e] = wmma::__float_to_tf32(af[mi].x[e]);
        }
#pragma unroll
        for (int ni = 0; ni < 2; ++ni) {
          wmma::load_matrix_sync(bf[ni], &Bs[buf][ks][32 * wc + 16 * ni], BN);
#pragma unroll
          for (int e = 0; e < bf[ni].num_elements; ++e) bf[ni].x[e] = wmma::__float_to_tf32(bf[ni].x[e]);
        }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int ni = 0; ni < 2; ++ni) wmma::mma_sync(cf[mi][ni], af[mi], bf[ni], cf[mi][ni]);
      }
    } else {
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][tr * 4]);
        const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + tr * 4]);
        const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tc * 4]);
        const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float bv[4] = {b0.x, b0.y, b0.z, b0.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
    }
    // The other buffer was last read in step t-1, which every thread finished
    // before the barrier that ended it.
    if (t + 1 < ntiles) store(buf ^ 1);
    __syncthreads();
  }

  float* C = p.c + z * p.c_z + split * p.c_split;
  const float* bias = p.bias ? p.bias + z * p.bias_z : nullptr;
  if constexpr (kTf32) {
    // Half h holds rows 64h..64h+63 of the tile, staged in the (now idle) A
    // tiles: 2 * 16 * 128 floats = 64 rows of 64 columns.
    float* Cs = &As[0][0][0];
    for (int h = 0; h < 2; ++h) {
      if ((wr >> 1) == h)
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
          for (int ni = 0; ni < 2; ++ni)
            wmma::store_matrix_sync(Cs + (32 * (wr & 1) + 16 * mi) * BN + 32 * wc + 16 * ni, cf[mi][ni], BN,
                                    wmma::mem_row_major);
      __syncthreads();
      for (int e = tid; e < 64 * BN; e += 256) {
        const int64_t r = m0 + 64 * h + e / BN, col = n0 + e % BN;
        if (r < p.M && col < p.N) C[r * p.ldc + col] = finish(p, p.alpha * Cs[e] + (bias ? __ldg(bias + col) : 0.f));
      }
      __syncthreads();
    }
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t r = m0 + (i < 4 ? tr * 4 + i : 64 + tr * 4 + i - 4);
      if (r >= p.M) continue;
      float* crow = C + r * p.ldc;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t col = n0 + tc * 4 + j;
        if (col < p.N) crow[col] = finish(p, p.alpha * acc[i][j] + (bias ? __ldg(bias + col) : 0.f));
      }
    }
  }
}

// Term for adding split-K partials: scratch is [splits, c_total].
struct SplitTerm {
  const float* ws;
  int64_t total;
  __device__ double operator()(int64_t k, int64_t r) const { return ws[r * total + k]; }
};

__global__ void add_bias_kernel(float* c, int64_t n, int64_t period, const float* bias) {
  EC_GRID_STRIDE(i, n) c[i] += bias[i % period];
}

__global__ void clamp_kernel(float* c, int64_t n, float lo, float hi) {
  EC_GRID_STRIDE(i, n) c[i] = fminf(fmaxf(c[i], lo), hi);
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      cudaGetLastError(), v = 0;
    return v > 0 ? v : 80;
  }();
  return n;
}

template <class A>
void launch(const A& a, const Params& p, int64_t mt, int64_t nt, int64_t zs) {
  const dim3 grid(static_cast<unsigned>(mt), static_cast<unsigned>(nt), static_cast<unsigned>(zs));
  if (tf32())
    gemm_kernel<A, true><<<grid, 256, 0, stream()>>>(a, p);
  else
    gemm_kernel<A, false><<<grid, 256, 0, stream()>>>(a, p);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void gemm_cuda(const GemmA& a, const GemmArgs& g) {
  if (g.M <= 0 || g.N <= 0 || g.batch <= 0) return;
  const int64_t mt = (g.M + BM - 1) / BM, nt = (g.N + BN - 1) / BN, ktiles = (g.K + BK - 1) / BK;
  if (mt > 0x7fffffff || nt > 65535) throw Error("gemm: a " + std::to_string(g.M) + " x " + std::to_string(g.N) +
                                                 " product exceeds the CUDA grid");
  // Split K when the output grid alone would leave most SMs idle, keeping at
  // least 8 k-tiles per split. Depends on shapes and the GPU model only.
  int64_t splits = 1;
  const int64_t tiles = mt * nt * g.batch, target = 2 * static_cast<int64_t>(sm_count());
  if (tiles < target && ktiles >= 16)
    splits = std::min<int64_t>({(target + tiles - 1) / tiles, ktiles / 8, 64});
  int64_t k_chunk = std::max<int64_t>(ktiles, 1) * BK;
  if (splits > 1) {
    k_chunk = (ktiles + splits - 1) / splits * BK;
    splits = (g.K + k_chunk - 1) / k_chunk;
  }
  if (g.batch * splits > 65535) throw Error("gemm: batch of " + std::to_string(g.batch) + " exceeds the CUDA grid");

  Params p{g.M, g.N, g.K, g.b, g.ldb, g.b_z, g.c, g.ldc, g.c_z, 0, g.bias, g.bias_z, g.alpha,
           static_cast<int>(splits), k_chunk, false, g.clamp, g.lo, g.hi};
  p.b_vec4 = reinterpret_cast<uintptr_t>(g.b) % 16 == 0 && g.ldb % 4 == 0 && g.b_z % 4 == 0;
  Tensor ws;
  if (splits > 1) {
    ws = scratch(splits * g.c_total);
    p.c = ws.data();
    p.c_split = g.c_total;
    p.bias = nullptr;
    p.clamp = false;  // after the partial sums are added
  }
  const int64_t zs = g.batch * splits;
  switch (a.kind) {
    case AKind::Rows: launch(RowsA{a.p, a.ld, a.stride_z, g.M}, p, mt, nt, zs); break;
    case AKind::Cols: launch(ColsA{a.p, a.ld, a.stride_z, g.M}, p, mt, nt, zs); break;
    case AKind::ConvFwd: launch(ConvFwdA{a.conv, a.p, g.M}, p, mt, nt, zs); break;
    case AKind::ConvDx: launch(ConvDxA{a.conv, a.p, g.M}, p, mt, nt, zs); break;
    case AKind::ConvDw: launch(ConvDwA{a.conv, a.p, g.M, g.K}, p, mt, nt, zs); break;
  }
  if (splits > 1) {
    reduce_cuda(SplitTerm{ws.data(), g.c_total}, g.c_total, splits, 1.0, g.c);
    if (g.bias) {
      add_bias_kernel<<<blocks_for(g.c_total), kThreads, 0, stream()>>>(g.c, g.c_total, g.ldc, g.bias);
      EC_CUDA_LAUNCH_CHECK();
    }
    if (g.clamp) clamp_cuda(g.c, g.c_total, g.lo, g.hi);
  }
}

void clamp_cuda(float* p, int64_t n, float lo, float hi) {
  if (n <= 0) return;
  clamp_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(p, n, lo, hi);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
