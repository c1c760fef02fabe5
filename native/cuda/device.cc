// CUDA device discovery and the CUDA backend shell.
//
// Every runtime call is checked; failures become ec::Error carrying the call
// and file:line (never abort), so a server survives a missing driver. Where no
// driver or device answers, the backend reports "no CUDA device (...)" and the
// registry's 'auto' choice falls back to the CPU. Every op has forward and
// backward kernels (one .cu per op family, declared in kernels.cuh); forward
// and backward dispatch through one switch, as native/cpu/backend.cc does.
#include <cuda_runtime.h>

#include <mutex>

#include "common.cuh"
#include "kernels.cuh"
#include "vecops.cuh"

namespace ec::cuda {

void check(cudaError_t err, const char* stmt, const char* file, int line) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear the sticky-free error so the device stays usable
  throw Error(std::string("cuda: ") + stmt + " failed at " + file + ":" + std::to_string(line) + ": " +
              cudaGetErrorString(err));
}

CudaInfo query_info() {
  CudaInfo info;
  info.compiled = true;
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    // Without libcuda the runtime reports an "insufficient" driver; say what it means.
    const std::string why = err == cudaSuccess ? "the driver lists no devices"
                            : info.driver_version == 0 ? "no NVIDIA driver is loaded"
                                                       : cudaGetErrorString(err);
    info.error = "no CUDA device (" + why + ")";
    return info;
  }
  info.device_count = count;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) info.device_name = prop.name;
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) {
    info.free_memory = static_cast<int64_t>(free_b);
    info.total_memory = static_cast<int64_t>(total_b);
  }
  cudaGetLastError();
  info.pool_bytes = pool_bytes();
  return info;
}

namespace {

// The kernels read and write device pointers only; a host tensor reaching
// them would fault far from the cause, so say which operand it was.
void expect_device(const OpCall& call, const Tensor* t, const char* what, size_t i) {
  if (t && !t->empty() && t->device() != Device::Cuda)
    throw Error(std::string("cuda backend: op '") + op_name(call.op) + "' received host memory for " + what + " " +
                std::to_string(i) + " (use from_host)");
}

}  // namespace

void forward(const OpCall& call, const Inputs& in, Tensor& out) {
  for (size_t i = 0; i < in.size(); ++i) expect_device(call, in[i], "input", i);
  expect_device(call, &out, "output", 0);
  switch (call.op) {
    EC_OPS(EC_FORWARD_CASE)
    case Op::COUNT:
      throw Error("cuda backend: op id " + std::to_string(static_cast<int>(call.op)) + " is not implemented");
  }
}

void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din) {
  for (size_t i = 0; i < in.size(); ++i) expect_device(call, in[i], "input", i);
  for (size_t i = 0; i < din.size(); ++i) expect_device(call, din[i], "gradient", i);
  expect_device(call, &out, "output", 0);
  expect_device(call, &dy, "dy", 0);
  switch (call.op) {
    EC_OPS(EC_BACKWARD_CASE)
    case Op::COUNT:
      throw Error("cuda backend: op id " + std::to_string(static_cast<int>(call.op)) + " is not implemented");
  }
}

namespace {

// A Program's stream: a blocking stream (ordered with the legacy default
// stream, see memory.cu). Destroyed after its work is done; its cached
// blocks then go to the shared list.
class CudaQueue final : public Queue {
 public:
  explicit CudaQueue(const QueueOptions& options) : options_(options) {
    EC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamDefault));
    id_ = register_stream();
  }
  ~CudaQueue() override {
    cudaStreamSynchronize(stream_);
    release_stream_blocks(id_);
    cudaStreamDestroy(stream_);
    cudaGetLastError();
  }
  cudaStream_t stream() const { return stream_; }
  uint64_t id() const { return id_; }
  const QueueOptions& options() const { return options_; }

 private:
  QueueOptions options_;
  cudaStream_t stream_ = nullptr;
  uint64_t id_ = 0;
};

thread_local Queue* t_queue = nullptr;

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  bool available(std::string* why) const override {
    std::call_once(once_, [this] { info_ = query_info(); });
    if (info_.device_count > 0) return true;
    if (why) *why = info_.error;
    return false;
  }
  // Every op of ec::Op has CUDA kernels (kernels.cuh).
  bool supports(const OpCall& call) const override { return call.op != Op::COUNT; }
  Tensor alloc(const Shape& shape) override { return device_alloc(shape); }
  Tensor to_host(const Tensor& t) override { return copy_to_host(t); }
  Tensor from_host(const Tensor& t) override { return copy_from_host(t); }
  void forward(const OpCall& call, const Inputs& in, Tensor& out) override { cuda::forward(call, in, out); }
  void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy,
                const Grads& din) override {
    cuda::backward(call, in, out, dy, din);
  }
  Tensor clone(const Tensor& t) override { return copy_on_device(t); }
  void synchronize() override { EC_CUDA_CHECK(cudaStreamSynchronize(cuda::stream())); }
  bool fuses_activation() const override { return true; }
  void conv2d_fused(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep) override {
    for (size_t i = 0; i < in.size(); ++i) expect_device(call, in[i], "input", i);
    expect_device(call, &out, "output", 0);
    conv2d_forward_cuda(call, in, out, ep);
  }
  const VecOps& vec() const override {
    static const VecOps ops = EC_VEC_OPS;
    return ops;
  }
  std::unique_ptr<Queue> make_queue(const QueueOptions& options) override {
    return std::make_unique<CudaQueue>(options);
  }
  Queue* use_queue(Queue* q) override {
    Queue* prev = t_queue;
    t_queue = q;
    set_stream(q ? static_cast<CudaQueue*>(q)->stream() : nullptr, q ? static_cast<CudaQueue*>(q)->id() : 0);
    set_tf32(q && static_cast<CudaQueue*>(q)->options().tf32);
    return prev;
  }

 private:
  mutable std::once_flag once_;
  mutable CudaInfo info_;
};

}  // namespace

Backend& cuda_backend() {
  static CudaBackend b;
  return b;
}

}  // namespace ec::cuda
