// The CUDA op launchers, one forward and one backward per op with the CPU
// kernels' signature and contract (native/cpu/kernels.h): outputs and din
// buffers arrive with garbage and are fully overwritten, din[i] null means
// "not wanted", in[i] / out may be null / empty where op_info says backward
// does not read them. All tensors live in device memory (device_alloc).
//
// Plain C++ declarations: device.cc (a host .cc) dispatches through them.
// Every launcher queues work on the legacy default stream and returns without
// waiting; Backend::synchronize() waits.
#pragma once
#include "common.cuh"

namespace ec::cuda {

using ec::Grads;
using ec::Inputs;

#define EC_CUDA_KERNEL(name)                                                           \
  void name##_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out);        \
  void name##_backward_cuda(const OpCall& call, const Inputs& in, const Tensor& out,  \
                            const Tensor& dy, const Grads& din);

EC_CUDA_KERNEL(conv2d)
EC_CUDA_KERNEL(dense)
EC_CUDA_KERNEL(relu)
EC_CUDA_KERNEL(clip)
EC_CUDA_KERNEL(leaky_relu)
EC_CUDA_KERNEL(sigmoid)
EC_CUDA_KERNEL(tanh)
EC_CUDA_KERNEL(max_pool)
EC_CUDA_KERNEL(avg_pool)
EC_CUDA_KERNEL(global_avg_pool)
EC_CUDA_KERNEL(global_max_pool)
EC_CUDA_KERNEL(add)
EC_CUDA_KERNEL(mul)
EC_CUDA_KERNEL(concat)
EC_CUDA_KERNEL(softmax)
EC_CUDA_KERNEL(log_softmax)
EC_CUDA_KERNEL(lrn)
EC_CUDA_KERNEL(batch_norm)
EC_CUDA_KERNEL(reshape)  // also serves Flatten
EC_CUDA_KERNEL(pad)
EC_CUDA_KERNEL(resize_bilinear)
EC_CUDA_KERNEL(gram)
EC_CUDA_KERNEL(mse_loss)
EC_CUDA_KERNEL(rms_loss)
EC_CUDA_KERNEL(sum_squares)
EC_CUDA_KERNEL(transpose)

#undef EC_CUDA_KERNEL


// Direct entry points (the CUDA op-table test calls these without a Program).
void forward(const OpCall& call, const Inputs& in, Tensor& out);
void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din);

// y = permute(x) on the device (also used by dense's backward for w^T).
void permute_cuda(const float* x, const Shape& xs, const std::vector<int>& perm, float* y);

}  // namespace ec::cuda
