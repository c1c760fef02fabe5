// Shared helpers of the CUDA backend. Plain C++ declarations so .cc and .cu
// files both include it.
#pragma once
#include <cuda_runtime.h>

#include "core/backend.h"

namespace ec::cuda {

// Throws ec::Error naming the statement and place; never aborts.
void check(cudaError_t err, const char* stmt, const char* file, int line);
#define EC_CUDA_CHECK(stmt) ::ec::cuda::check((stmt), #stmt, __FILE__, __LINE__)

CudaInfo query_info();

// Device memory (cudaMalloc through a cache; never managed memory).
Tensor device_alloc(const Shape& shape);
Tensor copy_to_host(const Tensor& t);
Tensor copy_from_host(const Tensor& t);
// Fills n floats at p with v on the device.
void fill_cuda(float* p, int64_t n, float v);

}  // namespace ec::cuda
