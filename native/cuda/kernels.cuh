// The CUDA op launchers, one forward and one backward per op with the CPU
// kernels' signature and contract (native/cpu/kernels.h): outputs and din
// buffers arrive with garbage and are fully overwritten, din[i] null means
// "not wanted", in[i] / out may be null / empty where op_info says backward
// does not read them. All tensors live in device memory (device_alloc).
//
// Plain C++ declarations: device.cc (a host .cc) dispatches through them.
// Every launcher queues work on the calling thread's current stream (stream():
// the running Program's own, else the legacy default stream) and returns
// without waiting; Backend::synchronize() waits.
#pragma once
#include "common.cuh"

namespace ec::cuda {

using ec::Grads;
using ec::Inputs;

// One forward and one backward launcher per row of EC_OPS (op_table.h), named
// by its kernel column: relu_forward_cuda, relu_backward_cuda, ...
#undef EC_KERNEL_SUFFIX
#define EC_KERNEL_SUFFIX _cuda
EC_OPS(EC_DECLARE_KERNEL)

// conv2d's forward with an activation applied in the GEMM's store (or one
// clamp pass); conv2d_forward_cuda runs it with none.
void conv2d_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep);


// Direct entry points (the CUDA op-table test calls these without a Program).
void forward(const OpCall& call, const Inputs& in, Tensor& out);
void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din);

// y = permute(x) on the device (also used by dense's backward for w^T).
void permute_cuda(const float* x, const Shape& xs, const std::vector<int>& perm, float* y);

}  // namespace ec::cuda
