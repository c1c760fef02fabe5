// Device memory: a caching allocator over cudaMalloc. Freed blocks return to a
// free list keyed by size and are handed out again, so a Program that runs the
// same shapes repeatedly stops calling cudaMalloc after its first pass.
#include <map>
#include <mutex>

#include "common.cuh"

namespace ec::cuda {

namespace {

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;
};
Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: blocks may outlive static teardown
  return *c;
}

size_t round_bytes(int64_t numel) {
  const size_t b = static_cast<size_t>(numel > 0 ? numel : 1) * sizeof(float);
  return (b + 511) / 512 * 512;
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p[i] = v;
}

}  // namespace

void fill_cuda(float* p, int64_t n, float v) {
  if (n <= 0) return;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 65535));
  fill_kernel<<<blocks, threads>>>(p, n, v);
  EC_CUDA_CHECK(cudaGetLastError());
}

Tensor device_alloc(const Shape& shape) {
  const int64_t numel = shape_numel(shape);
  const size_t bytes = round_bytes(numel);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(cache().mu);
    auto it = cache().free_blocks.lower_bound(bytes);
    if (it != cache().free_blocks.end() && it->first <= bytes * 2) {
      p = it->second;
      cache().free_blocks.erase(it);
    }
  }
  if (!p) {
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      // Give cached blocks back to the driver and try once more.
      cudaGetLastError();
      std::lock_guard<std::mutex> lk(cache().mu);
      for (auto& [sz, blk] : cache().free_blocks) cudaFree(blk);
      cache().free_blocks.clear();
      err = cudaMalloc(&p, bytes);
    }
    EC_CUDA_CHECK(err);
  }
  auto st = std::make_shared<Storage>();
  st->data = static_cast<float*>(p);
  st->numel = static_cast<int64_t>(bytes / sizeof(float));
  st->device = Device::Cuda;
  st->release = [bytes](float* q) {
    std::lock_guard<std::mutex> lk(cache().mu);
    cache().free_blocks.emplace(bytes, q);
  };
  return Tensor(shape, st);
}

Tensor copy_to_host(const Tensor& t) {
  if (t.device() == Device::Host) return t;
  Tensor h(t.shape());
  EC_CUDA_CHECK(cudaMemcpy(h.data(), t.data(), t.numel() * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

Tensor copy_from_host(const Tensor& t) {
  if (t.device() == Device::Cuda) return t;
  Tensor d = device_alloc(t.shape());
  EC_CUDA_CHECK(cudaMemcpy(d.data(), t.data(), t.numel() * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}

}  // namespace ec::cuda
