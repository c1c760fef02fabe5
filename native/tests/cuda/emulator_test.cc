// The CUDA emulator (native/cuda/emu) itself: the GPU op table that runs on
// it is only as good as its barrier, shuffle and error semantics, so each is
// pinned here. Built only into eyecandy_cuda_emu_tests.
#ifdef EC_CUDA_EMULATOR
#include <cuda_runtime.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <new>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
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

// Reads p[i] (any i, even out of bounds) into out[0].
__global__ void read_at_kernel(const float* p, long i, float* out) { out[0] = p[i]; }
__global__ void write_at_kernel(float* p, long i) { p[i] = 7.f; }

struct WithPointer {
  float* p;
  int n;
};
__global__ void struct_fill_kernel(WithPointer a) {
  if (static_cast<int>(threadIdx.x) < a.n) a.p[threadIdx.x] = 3.f;
}

// Reads a shared array no thread wrote: the emulator poisons it per block (NaN).
__global__ void uninit_shared_kernel(float* out) {
  __shared__ float s[32];
  ::ec_emu::shared_fresh(s, sizeof(s));  // what rewrite.py adds after a __shared__ declaration
  if (threadIdx.x == 1) s[1] = 2.f;
  __syncthreads();
  out[blockIdx.x * 2 + threadIdx.x] = s[threadIdx.x];
}

// Each block takes the next ticket, so out[block] is the order it ran in.
__global__ void order_kernel(int* counter, int* out) {
  if (threadIdx.x == 0) out[blockIdx.x] = counter[0]++;
}

template <class T>
T* device(size_t n) {
  void* p = nullptr;
  CHECK(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  return static_cast<T*>(p);
}

// Runs f in a child process; its exit ("exit N" or "signal N") and stderr.
std::string in_child(const std::function<void()>& f) {
  std::fflush(stdout);
  std::fflush(stderr);
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    f();
    std::fflush(stderr);
    _exit(0);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "signal " + std::to_string(WTERMSIG(status))) +
         ": " + err;
}

}  // namespace

TEST(cuda_emulator_out_of_bounds_read_stops_the_process) {
  float* d = device<float>(100);
  float* out = device<float>(1);
  // In bounds: fine (fresh device memory reads as NaN, as garbage would).
  (::ec_emu::Launch(1, 1) % [&](auto&&... a) { read_at_kernel(a...); })(d, 99L, out);
  CHECK(cudaGetLastError() == cudaSuccess);
  // One past the end: the guard page.
  const std::string r = in_child([&] { (::ec_emu::Launch(1, 1) % [&](auto&&... a) { read_at_kernel(a...); })(d, 100L, out); });
  if (r.find("signal 6") != 0 || r.find("the guard page after the device allocation") == std::string::npos)
    EC_FAIL("expected an abort naming the guard page, got: " << r);
  // Before the start: the red zone (written) or the guard page (read).
  const std::string w = in_child([&] { (::ec_emu::Launch(1, 1) % [&](auto&&... a) { write_at_kernel(a...); })(d, -1L); });
  if (w.find("signal 6") != 0 || w.find("the red zone before the device allocation") == std::string::npos)
    EC_FAIL("expected an abort naming the red zone, got: " << w);
  cudaFree(d);
  cudaFree(out);
}

TEST(cuda_emulator_host_cannot_touch_device_memory) {
  float* d = device<float>(16);
  CHECK(cudaMemset(d, 0, 16 * sizeof(float)) == cudaSuccess);
  const std::string r = in_child([&] { std::printf("%f\n", static_cast<double>(d[3])); });
  if (r.find("signal 6") != 0 || r.find("closed device memory") == std::string::npos)
    EC_FAIL("expected an abort naming closed device memory, got: " << r);
  cudaFree(d);
}

TEST(cuda_emulator_struct_arguments) {
  float* d = device<float>(8);
  (::ec_emu::Launch(1, 8) % [&](auto&&... a) { struct_fill_kernel(a...); })(WithPointer{d, 8});
  CHECK(cudaGetLastError() == cudaSuccess);
  float h[8];
  CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (float v : h) CHECK(v == 3.f);
  std::printf("(the next cuda emulator line on stderr is expected)\n");
  (::ec_emu::Launch(1, 8) % [&](auto&&... a) { struct_fill_kernel(a...); })(WithPointer{h, 8});
  CHECK(cudaGetLastError() == cudaErrorInvalidDevicePointer);
  for (float v : h) CHECK(v == 3.f);  // the kernel did not run
  cudaFree(d);
}

// Padding is no part of an argument: a host pointer left in it (here put there on purpose; in
// practice whatever the stack held) must not fail the launch. Under ASan the padding of
// WithPointer above held such a pointer, and cuda_emulator_struct_arguments failed.
struct Padded {
  int n;
  alignas(16) float* p;  // bytes 4..15 are padding, the word at byte 8 entirely
};
__global__ void padded_fill_kernel(Padded a) {
  if (static_cast<int>(threadIdx.x) < a.n) a.p[threadIdx.x] = 5.f;
}

TEST(cuda_emulator_struct_padding_is_not_scanned) {
  static_assert(sizeof(Padded) == 32, "the padding this test fills");
  float* d = device<float>(4);
  float h[4] = {0, 0, 0, 0};
  alignas(Padded) unsigned char raw[sizeof(Padded)];
  const uintptr_t host = reinterpret_cast<uintptr_t>(h);
  std::memcpy(raw + 8, &host, sizeof host);
  Padded* a = new (raw) Padded;  // default-initialised: the padding keeps the host pointer
  a->n = 4;
  a->p = d;
  uintptr_t word;
  std::memcpy(&word, raw + 8, sizeof word);
  CHECK(word == host);
  (::ec_emu::Launch(1, 4) % [&](auto&&... x) { padded_fill_kernel(x...); })(*a);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (float v : h) CHECK(v == 5.f);
  cudaFree(d);
}

// Two small ints side by side make a word like 0x700000001. Under ASan that address is in its
// shadow memory (mapped), and the scan took it for a host pointer: 100 of the emulated op-table
// tests failed their launch until the sanitizer's own memory was left out.
struct Dims {
  int n, c;
  float* p;
};
__global__ void dims_fill_kernel(Dims a) {
  if (static_cast<int>(threadIdx.x) < a.n * a.c) a.p[threadIdx.x] = 6.f;
}

TEST(cuda_emulator_struct_of_small_ints_is_not_a_host_pointer) {
  float* d = device<float>(7);
  (::ec_emu::Launch(1, 8) % [&](auto&&... x) { dims_fill_kernel(x...); })(Dims{1, 7, d});
  CHECK(cudaGetLastError() == cudaSuccess);
  float h[7];
  CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (float v : h) CHECK(v == 6.f);
  cudaFree(d);
}

TEST(cuda_emulator_poisons_uninitialised_shared_memory) {
  float* d = device<float>(4);
  (::ec_emu::Launch(2, 2) % [&](auto&&... a) { uninit_shared_kernel(a...); })(d);
  CHECK(cudaGetLastError() == cudaSuccess);
  float h[4];
  CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess);
  // Thread 0 of each block read s[0], which no thread wrote: NaN in both blocks (poisoned again
  // for block 1, though block 0 left nothing there either); s[1] was written.
  CHECK(std::isnan(h[0]) && std::isnan(h[2]));
  CHECK(h[1] == 2.f && h[3] == 2.f);
  cudaFree(d);
}

TEST(cuda_emulator_block_order) {
  const int n = 64;
  int* counter = device<int>(1);
  int* out = device<int>(n);
  CHECK(cudaMemset(counter, 0, sizeof(int)) == cudaSuccess);
  (::ec_emu::Launch(n, 1) % [&](auto&&... a) { order_kernel(a...); })(counter, out);
  CHECK(cudaGetLastError() == cudaSuccess);
  std::vector<int> h(n);
  CHECK(cudaMemcpy(h.data(), out, n * sizeof(int), cudaMemcpyDeviceToHost) == cudaSuccess);
  int in_order = 0;
  for (int b = 0; b < n; ++b) in_order += h[b] == b;
  const char* mode = std::getenv("EC_CUDA_EMU_BLOCKS");
  if (mode && std::string(mode) == "shuffle")
    CHECK(in_order < n / 2);  // shuffled
  else
    CHECK(in_order == n);
  cudaFree(counter);
  cudaFree(out);
}

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
