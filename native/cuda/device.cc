// CUDA device discovery and the CUDA backend shell.
//
// Every runtime call is checked; failures become ec::Error carrying the call
// and file:line (never abort), so a server survives a missing driver. Where no
// driver or device answers, the backend reports "no CUDA device (...)" and the
// registry's 'auto' choice falls back to the CPU. The op kernels themselves
// arrive with the CUDA kernel issue: until then supports() is false and a
// Program compiled for 'cuda' names the first op it lacks.
#include <cuda_runtime.h>

#include <mutex>

#include "common.cuh"

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
  return info;
}

namespace {

class CudaBackend final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  bool available(std::string* why) const override {
    std::call_once(once_, [this] { info_ = query_info(); });
    if (info_.device_count > 0) return true;
    if (why) *why = info_.error;
    return false;
  }
  bool supports(const OpCall&) const override { return false; }
  Tensor alloc(const Shape& shape) override { return device_alloc(shape); }
  Tensor to_host(const Tensor& t) override { return copy_to_host(t); }
  Tensor from_host(const Tensor& t) override { return copy_from_host(t); }
  void forward(const OpCall& call, const Inputs&, Tensor&) override { unsupported(call); }
  void backward(const OpCall& call, const Inputs&, const Tensor&, const Tensor&, const Grads&) override {
    unsupported(call);
  }
  void synchronize() override { EC_CUDA_CHECK(cudaDeviceSynchronize()); }

 private:
  [[noreturn]] static void unsupported(const OpCall& call) {
    throw Error(std::string("cuda backend: op '") + op_name(call.op) + "' is not implemented");
  }
  mutable std::once_flag once_;
  mutable CudaInfo info_;
};

}  // namespace

Backend& cuda_backend() {
  static CudaBackend b;
  return b;
}

}  // namespace ec::cuda
