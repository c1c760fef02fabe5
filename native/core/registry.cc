// The backend registry: the one place that reads which backends were compiled in.
#include <cstdlib>

#include "backend.h"

namespace ec {
namespace cpu {
Backend& cpu_backend();
}
#ifdef EC_WITH_CUDA
namespace cuda {
Backend& cuda_backend();
CudaInfo query_info();
}  // namespace cuda
#endif

std::vector<std::string> compiled_backends() {
#ifdef EC_WITH_CUDA
  return {"cpu", "cuda"};
#else
  return {"cpu"};
#endif
}

CudaInfo cuda_info() {
#ifdef EC_WITH_CUDA
  return cuda::query_info();
#else
  CudaInfo info;
  info.error = "not compiled in this build (rebuild with nvcc on PATH)";
  return info;
#endif
}

Backend& backend_by_name(const std::string& name) {
  if (name == "cpu") return cpu::cpu_backend();
  if (name == "cuda" || name == "auto") {
#ifdef EC_WITH_CUDA
    Backend& cuda = cuda::cuda_backend();
    if (name == "cuda") return cuda;
    std::string why;
    return cuda.available(&why) ? cuda : cpu::cpu_backend();
#else
    if (name == "auto") return cpu::cpu_backend();
    throw Error("cuda backend: not compiled in this build (rebuild with nvcc on PATH)");
#endif
  }
  if (name == "cudnn") throw Error("cudnn backend: not available in this build (no cuDNN backend is implemented yet)");
  throw Error("backend: expected one of 'cpu', 'cuda', 'cudnn', 'auto' but received '" + name + "'");
}

Backend& backend_of(const Tensor& t) {
  if (t.device() == Device::Host) return cpu::cpu_backend();
#ifdef EC_WITH_CUDA
  return cuda::cuda_backend();
#else
  throw Error("tensor: device memory in a build without CUDA");
#endif
}

}  // namespace ec
