// Helpers shared by the .cu files only (device code): launch geometry,
// grid-stride loops, launch checks, warp/block reductions, scratch memory.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels.cuh"

namespace ec::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items. Capped so very large tensors
// loop inside the kernel instead of asking for millions of blocks; the cap
// still gives every SM of the largest GPUs dozens of blocks.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, 1 << 16)));
}

// Checks the launch just queued (bad configuration, missing kernel image for
// this GPU); faults inside the kernel surface at the next synchronizing call.
#define EC_CUDA_LAUNCH_CHECK() EC_CUDA_CHECK(cudaGetLastError())

// for (int64_t i = global thread; i < n; i += all threads): every index is
// visited once whatever the grid size, and indices stay 64-bit.
#define EC_GRID_STRIDE(i, n)                                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);       \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// Input i's gradient buffer, or null when it is not wanted.
inline Tensor* grad_at(const Grads& din, size_t i) { return i < din.size() ? din[i] : nullptr; }
// Optional input i (a bias), or null.
inline const float* opt_input(const Inputs& in, size_t i) { return i < in.size() && in[i] ? in[i]->data() : nullptr; }

// Device scratch of n floats from the caching allocator. Returning it to the
// cache while queued kernels still use it is safe: the block goes back to
// this stream's list, so its next user is queued after them (memory.cu).
inline Tensor scratch(int64_t n) { return device_alloc(Shape{std::max<int64_t>(n, 1)}); }

// Copies n floats device-to-device on this thread's stream (no-op when equal).
inline void copy_device(float* dst, const float* src, int64_t n) {
  if (n <= 0 || dst == src) return;
  EC_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
}

// Sum / max over a warp in a fixed butterfly order (deterministic).
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = v < w ? w : v;
  }
  return v;
}

// Block-wide sum / max for blockDim.x a multiple of 32 (<= 1024); every thread
// gets the result. `tmp` holds 32 floats of shared memory; the leading
// __syncthreads lets callers reuse `tmp` back to back.
template <bool kMax>
__device__ float block_reduce(float v, float* tmp) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();
  if (lane == 0) tmp[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < warps ? tmp[lane] : (kMax ? -INFINITY : 0.f);
    w = kMax ? warp_max(w) : warp_sum(w);
    if (lane == 0) tmp[0] = w;
  }
  __syncthreads();
  return tmp[0];
}

// Fails clearly where a kernel's fixed-size index tables would overflow.
inline void check_rank(const char* who, size_t rank, size_t max_rank) {
  if (rank > max_rank)
    throw Error(std::string(who) + ": the CUDA kernel handles up to " + std::to_string(max_rank) +
                " non-trivial dimensions but this call needs " + std::to_string(rank));
}

}  // namespace ec::cuda
