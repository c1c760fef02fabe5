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

// The stream this thread queues work on: the running Program's own (set by
// its QueueScope, see device.cc), else the legacy default stream (nullptr).
// Program streams are blocking streams, so work on the legacy stream (vector
// routines called from JS, uploads outside a Program) is ordered with them.
cudaStream_t stream();
cudaStream_t set_stream(cudaStream_t s);  // returns the previous one
// A new Program stream, and the same after it has finished its work and
// before it is destroyed: its cached free blocks go to the shared list.
void register_stream(cudaStream_t s);
void release_stream_blocks(cudaStream_t s);

// Device memory (cudaMalloc through a cache; never managed memory). Copies
// go through pinned staging buffers on this thread's stream and wait for it.
Tensor device_alloc(const Shape& shape);
Tensor copy_to_host(const Tensor& t);
Tensor copy_from_host(const Tensor& t);
// A device copy of a device tensor.
Tensor copy_on_device(const Tensor& t);
// Fills n floats at p with v on the device.
void fill_cuda(float* p, int64_t n, float v);

}  // namespace ec::cuda
