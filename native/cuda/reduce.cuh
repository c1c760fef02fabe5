// Deterministic reductions: out[k] = post(scale * sum_{r < R} term(k, r)) for k < K.
//
// Pass 1: a block of (bx, by) threads covers bx consecutive outputs and one
// chunk of r; its by thread rows walk the chunk in a fixed interleaving, then
// a shared-memory tree adds the rows. With one chunk that is the answer;
// otherwise the chunk partials (double) go to scratch and pass 2 adds them in
// chunk order. The split depends on K and R only, so the same shapes always
// give the same bits (no atomics), and sums run in double like the CPU's.
//
// Term is a small device functor `double operator()(int64_t k, int64_t r)`.
// Keeping k on threadIdx.x makes loads coalesce when consecutive outputs are
// consecutive in memory (column sums of [R, K] matrices: bias gradients,
// batch-norm statistics); K == 1 (a loss) puts all 256 threads on r instead.
#pragma once
#include <cmath>

#include "launch.cuh"

namespace ec::cuda {

enum class Post { None, Sqrt };

template <class Out>
__device__ __forceinline__ Out reduce_finish(double v, double scale, Post post) {
  v *= scale;
  if (post == Post::Sqrt) v = sqrt(v);
  return static_cast<Out>(v);
}

template <class Term, class Out>
__global__ void __launch_bounds__(256) reduce_partial_kernel(Term term, int64_t K, int64_t R, int64_t chunk,
                                                             double scale, Post post, double* partial, Out* out) {
  __shared__ double s[256];
  const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x, by = blockDim.y;
  const int64_t k = static_cast<int64_t>(blockIdx.x) * bx + tx;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < R ? r0 + chunk : R;
  double acc = 0.0;
  if (k < K)
    for (int64_t r = r0 + ty; r < r1; r += by) acc += term(k, r);
  s[ty * bx + tx] = acc;
  __syncthreads();
  for (int h = by / 2; h > 0; h >>= 1) {  // by is a power of two
    if (ty < h) s[ty * bx + tx] += s[(ty + h) * bx + tx];
    __syncthreads();
  }
  if (ty == 0 && k < K) {
    if (partial)
      partial[static_cast<int64_t>(blockIdx.y) * K + k] = s[tx];
    else
      out[k] = reduce_finish<Out>(s[tx], scale, post);
  }
}

template <class Out>
__global__ void reduce_chunks_kernel(const double* partial, int64_t K, int64_t chunks, double scale, Post post,
                                     Out* out) {
  EC_GRID_STRIDE(k, K) {
    double acc = 0.0;
    for (int64_t c = 0; c < chunks; ++c) acc += partial[c * K + k];
    out[k] = reduce_finish<Out>(acc, scale, post);
  }
}

template <class Term, class Out>
void reduce_cuda(const Term& term, int64_t K, int64_t R, double scale, Out* out, Post post = Post::None) {
  if (K <= 0) return;
  int bx = 1;
  while (bx < 32 && bx < K) bx *= 2;
  const int by = 256 / bx;
  const int64_t kblocks = (K + bx - 1) / bx;
  // Each thread adds at least 8 terms per chunk; more chunks only while the
  // grid is still small (about 2048 blocks fills any current GPU).
  const int64_t per_chunk_min = static_cast<int64_t>(by) * 8;
  int64_t chunks = std::max<int64_t>(1, (R + per_chunk_min - 1) / per_chunk_min);
  chunks = std::min<int64_t>(chunks, std::max<int64_t>(1, 2048 / kblocks));
  chunks = std::min<int64_t>(chunks, 65535);
  const int64_t chunk = std::max<int64_t>(1, (R + chunks - 1) / chunks);
  chunks = std::max<int64_t>(1, (R + chunk - 1) / chunk);
  if (kblocks > 0x7fffffff) throw Error("reduce: too many outputs for one CUDA grid");
  const dim3 grid(static_cast<unsigned>(kblocks), static_cast<unsigned>(chunks)), block(bx, by);
  if (chunks == 1) {
    reduce_partial_kernel<<<grid, block, 0, stream()>>>(term, K, R, chunk, scale, post, static_cast<double*>(nullptr), out);
    EC_CUDA_LAUNCH_CHECK();
    return;
  }
  Tensor part = scratch(2 * chunks * K);  // doubles, two floats each
  double* p = reinterpret_cast<double*>(part.data());
  reduce_partial_kernel<<<grid, block, 0, stream()>>>(term, K, R, chunk, scale, post, p, static_cast<Out*>(nullptr));
  EC_CUDA_LAUNCH_CHECK();
  reduce_chunks_kernel<<<blocks_for(K), kThreads, 0, stream()>>>(p, K, chunks, scale, post, out);
  EC_CUDA_LAUNCH_CHECK();
}

// Term: column sums of a row-major [R, K] matrix.
struct ColumnTerm {
  const float* m;
  __device__ double operator()(int64_t k, int64_t r) const { return m[r * K_ + k]; }
  int64_t K_;
};
inline void column_sums_cuda(const float* m, int64_t rows, int64_t cols, float* out) {
  reduce_cuda(ColumnTerm{m, cols}, cols, rows, 1.0, out);
}

}  // namespace ec::cuda
