// A CPU emulation of the parts of CUDA that native/cuda uses, so the CUDA
// kernels run (slowly, exactly) on machines without a GPU: CI runs the GPU
// op table through it on every submission.
//
// It is a test harness, not a backend: the .cu sources are compiled as C++
// after `kernel<<<grid, block, smem, stream>>>(args)` is rewritten into
// `(::ec_emu::Launch(grid, block, smem, stream) % [&](auto&&... a) { kernel(a...); })(args)`
// (rewrite.py). Each block runs on the calling thread; its threads are
// fibers (ucontext) that switch only at __syncthreads and warp shuffles, so
// a kernel runs exactly as written, one thread after another between
// barriers. That order finds missing barriers (a thread reading what a later
// thread has not written yet), wrong indexing, out-of-range launches, and
// barriers that not every thread reaches (reported as a launch failure).
// It cannot find what needs real concurrency or real hardware: races between
// blocks through global memory, timing, occupancy, and limits on registers
// and shared memory.
//
// Device memory is host memory here; every launch runs to completion before
// the launch call returns (streams and events are ordered trivially), and
// launches are serialized process-wide, so __shared__ arrays can be statics.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <utility>

// ---- device-side language -------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__ static
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

namespace ec_emu {
extern uint3 g_threadIdx, g_blockIdx;
extern dim3 g_blockDim, g_gridDim;
void syncthreads();
// Warp shuffle: the live lanes of the caller's warp meet, each offering
// `value`; `out` gets what lane `src_lane` (of the block's linear order)
// offered (src_lane counts within the warp), or the caller's own value where
// that lane does not exist or has returned.
void warp_exchange(const void* value, size_t bytes, int src_lane, void* out);
}  // namespace ec_emu

#define threadIdx (::ec_emu::g_threadIdx)
#define blockIdx (::ec_emu::g_blockIdx)
#define blockDim (::ec_emu::g_blockDim)
#define gridDim (::ec_emu::g_gridDim)
constexpr int warpSize = 32;

inline void __syncthreads() { ::ec_emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) {}
inline void __threadfence() {}
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
inline int ec_emu_lane() {
  const unsigned linear = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  return static_cast<int>(linear & 31u);
}
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  const int lane = ec_emu_lane();
  T r;
  ::ec_emu::warp_exchange(&v, sizeof(T), (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1)), &r);
  return r;
}
template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = ec_emu_lane(), base = lane & ~(width - 1);
  const int src = (lane - base) + static_cast<int>(delta) < width ? lane + static_cast<int>(delta) : lane;
  T r;
  ::ec_emu::warp_exchange(&v, sizeof(T), src, &r);
  return r;
}
template <class T>
inline T __shfl_sync(unsigned, T v, int src_lane, int width = 32) {
  const int lane = ec_emu_lane();
  T r;
  ::ec_emu::warp_exchange(&v, sizeof(T), (lane & ~(width - 1)) + (src_lane & (width - 1)), &r);
  return r;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
// Launches are serialized, so atomics are plain read-modify-writes.
template <class T>
inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
inline T atomicMax(T* p, T v) {
  const T old = *p;
  *p = old < v ? v : old;
  return old;
}

// ---- runtime API -----------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
};
struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaHostAllocDefault = 0, cudaEventDefault = 0, cudaEventDisableTiming = 2;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int major, minor;
  int warpSize;
};

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t err);
const char* cudaGetErrorName(cudaError_t err);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int dev);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int dev);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemset(void* p, int v, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);

// ---- kernel launch ---------------------------------------------------------
namespace ec_emu {

// Checks the configuration (as the driver would), then runs every block.
// A bad configuration or a failed block sets the error cudaGetLastError returns.
void run_grid(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const std::function<void()>& thread_body);

struct Launch {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  Launch(dim3 g, dim3 b, size_t s = 0, cudaStream_t st = nullptr) : grid(g), block(b), smem(s), stream(st) {}
};
// Pointer arguments must point into device memory (cudaMalloc), as on a GPU
// where a host pointer faults; false (with cudaErrorInvalidDevicePointer) otherwise.
bool check_pointer_arg(const void* p);
// A struct (or other non-pointer) argument: device pointers in it open their
// memory for the kernel; a host pointer in it is an error, as above.
bool check_struct_arg(const void* arg, size_t bytes);
// The scan reads a copy with its padding cleared (where the compiler can: GCC
// 11 and later): padding holds whatever the stack held before, often an old
// host pointer, and is no part of the argument.
#if defined(__has_builtin)
#if __has_builtin(__builtin_clear_padding)
#define EC_EMU_CLEAR_PADDING 1
#endif
#endif
template <class T>
bool arg_ok(const T& v) {
  if constexpr (std::is_class_v<T> && sizeof(T) >= sizeof(void*)) {
#ifdef EC_EMU_CLEAR_PADDING
    if constexpr (std::is_trivially_copyable_v<T>) {
      alignas(T) unsigned char bytes[sizeof(T)];
      std::memcpy(bytes, &v, sizeof(T));
      __builtin_clear_padding(reinterpret_cast<T*>(bytes));
      return check_struct_arg(bytes, sizeof(T));
    }
#endif
    return check_struct_arg(&v, sizeof(T));
  }
  return true;
}
// Marks a __shared__ array (rewrite.py adds the call after each declaration):
// the first thread of each block to reach it fills it with all bits set.
void shared_fresh(void* p, size_t bytes);
template <class T>
bool arg_ok(T* p) {
  return check_pointer_arg(p);
}

// Holds the launch lock from the argument checks (which open the device
// memory the kernel is given) to the end of the launch (which closes it).
struct LaunchGuard {
  LaunchGuard();
  ~LaunchGuard();
  LaunchGuard(const LaunchGuard&) = delete;
  LaunchGuard& operator=(const LaunchGuard&) = delete;
};

template <class F>
struct Runner {
  Launch cfg;
  F kernel;
  template <class... Args>
  void operator()(Args&&... args) {
    LaunchGuard guard;
    if (!(arg_ok(args) && ...)) return;
    run_grid(cfg.grid, cfg.block, cfg.smem, cfg.stream, [&] { kernel(args...); });
  }
};
template <class F>
Runner<F> operator%(const Launch& cfg, F kernel) {
  return {cfg, std::move(kernel)};
}

// For tests of the emulator itself.
struct Stats {
  uint64_t launches, blocks, fiber_blocks, switches;
};
Stats stats();

}  // namespace ec_emu
