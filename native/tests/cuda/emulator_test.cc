// The CUDA emulator (native/cuda/emu) itself: the GPU op table that runs on
// it is only as good as its barrier, shuffle and error semantics, so each is
// pinned here. Built only into eyecandy_cuda_emu_tests.
#ifdef EC_CUDA_EMULATOR
#include <cuda_runtime.h>

#include <vector>

#include "../test.h"

namespace ec::test {
namespace {

// out[t] = s[(t + 1) % n] after every thread wrote s[t] = t + 1; without the
// barrier, thread t reads s[t + 1] before thread t + 1 has written it.
template <bool kSync>
__global__ void rotate_kernel(int* out) {
  __shared__ int s[64];
  const int t = threadIdx.x, n = blockDim.x;
  s[t] = t + 1 + 1000 * static_cast<int>(blockIdx.x);
  if (kSync) __syncthreads();
  out[blockIdx.x * n + t] = s[(t + 1) % n];
}

// Block sum by warp butterflies and a shared-memory step, as launch.cuh does.
__global__ void block_sum_kernel(const float* x, float* out) {
  __shared__ float part[32];
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) s += part[w];
    out[blockIdx.x] = s;
  }
}

__global__ void deadlock_kernel(float* p) {
  if (threadIdx.x == 0)
    p[0] = __shfl_xor_sync(0xffffffffu, 1.f, 1);
  else
    __syncthreads();
}

__global__ void write_kernel(float* p) { p[threadIdx.x] = 1.f; }

template <class T>
T* device(size_t n) {
  void* p = nullptr;
  CHECK(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  return static_cast<T*>(p);
}

}  // namespace

TEST(cuda_emulator_barrier_orders_threads) {
  int* d = device<int>(2 * 64);
  (::ec_emu::Launch(2, 64) % [&](auto&&... a) { rotate_kernel<true>(a...); })(d);
  CHECK(cudaGetLastError() == cudaSuccess);
  std::vector<int> h(128);
  CHECK(cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 64; ++t) CHECK(h[b * 64 + t] == (t + 1) % 64 + 1 + 1000 * b);
  // Without the barrier the emulator's thread order (either direction) exposes the race.
  (::ec_emu::Launch(1, 64) % [&](auto&&... a) { rotate_kernel<false>(a...); })(d);
  CHECK(cudaMemcpy(h.data(), d, 64 * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess);
  int wrong = 0;
  for (int t = 0; t < 64; ++t) wrong += h[t] != (t + 1) % 64 + 1;
  CHECK(wrong > 0);
  cudaFree(d);
}

TEST(cuda_emulator_warp_shuffle_block_sum) {
  const int blocks = 3, threads = 256;
  std::vector<float> x(blocks * threads);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7);
  float* dx = device<float>(x.size());
  float* dout = device<float>(blocks);
  CHECK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  (::ec_emu::Launch(blocks, threads) % [&](auto&&... a) { block_sum_kernel(a...); })(dx, dout);
  CHECK(cudaGetLastError() == cudaSuccess);
  float out[blocks];
  CHECK(cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (int b = 0; b < blocks; ++b) {
    double want = 0;
    for (int t = 0; t < threads; ++t) want += x[b * threads + t];
    CHECK_NEAR(out[b], want, 1e-3);
  }
  cudaFree(dx);
  cudaFree(dout);
}

TEST(cuda_emulator_reports_errors) {
  float* d = device<float>(32);
  std::printf("(the next three cuda emulator lines on stderr are expected)\n");
  (::ec_emu::Launch(1, 32) % [&](auto&&... a) { deadlock_kernel(a...); })(d);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  float host[32];
  (::ec_emu::Launch(1, 32) % [&](auto&&... a) { write_kernel(a...); })(host);
  CHECK(cudaGetLastError() == cudaErrorInvalidDevicePointer);
  (::ec_emu::Launch(1, 2048) % [&](auto&&... a) { write_kernel(a...); })(d);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaMemcpy(d, host, sizeof host, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);
  cudaFree(d);
}

}  // namespace ec::test
#endif
