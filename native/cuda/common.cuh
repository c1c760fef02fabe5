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
void set_stream(cudaStream_t s, uint64_t id);  // id from register_stream, 0 for the legacy stream
// Whether this thread's GEMMs (convolution, dense, Gram) use TF32 tensor
// cores: the running Program's QueueOptions::tf32.
bool tf32();
void set_tf32(bool on);
// A new Program stream's id for the block cache; and, once that stream has
// finished its work, before it is destroyed: its cached blocks go to the
// shared list.
uint64_t register_stream();
void release_stream_blocks(uint64_t id);

// Device memory (cudaMalloc through a cache; never managed memory). Copies
// go through pinned staging buffers on this thread's stream and wait for it.
Tensor device_alloc(const Shape& shape);
// Bytes the cache holds from cudaMalloc (in use or cached).
int64_t pool_bytes();
Tensor copy_to_host(const Tensor& t);
Tensor copy_from_host(const Tensor& t);
// A device copy of a device tensor.
Tensor copy_on_device(const Tensor& t);
// Fills n floats at p with v on the device.
void fill_cuda(float* p, int64_t n, float v);

}  // namespace ec::cuda
