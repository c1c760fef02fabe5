// CPU kernels, one forward and one backward per op, all with one signature so
// the dispatch in backend.cc is a plain switch.
//
// forward:  `in` holds the op's inputs (optional trailing inputs such as a
//           bias may be absent: in.size() < max_inputs). `out` is allocated
//           with the inferred shape; its contents are garbage on entry and the
//           kernel must write every element.
// backward: `in` holds the forward inputs when op_info(op).backward_needs_inputs,
//           else null pointers; `out` is the forward output when
//           backward_needs_output, else empty. `dy` has the output's shape.
//           din[i] is null when input i's gradient is not wanted, else it is
//           allocated with input i's shape and garbage contents: overwrite it.
// Shapes and attributes were checked by infer_shape before any kernel runs.
#pragma once
#include <vector>

#include "../core/backend.h"

namespace ec::cpu {

using ec::Grads;
using ec::Inputs;
Backend& cpu_backend();

#define EC_CPU_KERNEL(name)                                                              \
  void name##_forward(const OpCall& call, const Inputs& in, Tensor& out);               \
  void name##_backward(const OpCall& call, const Inputs& in, const Tensor& out,         \
                       const Tensor& dy, const Grads& din);

EC_CPU_KERNEL(conv2d)
EC_CPU_KERNEL(dense)
EC_CPU_KERNEL(relu)
EC_CPU_KERNEL(clip)
EC_CPU_KERNEL(leaky_relu)
EC_CPU_KERNEL(sigmoid)
EC_CPU_KERNEL(tanh)
EC_CPU_KERNEL(max_pool)
EC_CPU_KERNEL(avg_pool)
EC_CPU_KERNEL(global_avg_pool)
EC_CPU_KERNEL(global_max_pool)
EC_CPU_KERNEL(add)
EC_CPU_KERNEL(mul)
EC_CPU_KERNEL(concat)
EC_CPU_KERNEL(softmax)
EC_CPU_KERNEL(log_softmax)
EC_CPU_KERNEL(lrn)
EC_CPU_KERNEL(batch_norm)
EC_CPU_KERNEL(reshape)  // also serves Flatten
EC_CPU_KERNEL(pad)
EC_CPU_KERNEL(resize_bilinear)
EC_CPU_KERNEL(gram)
EC_CPU_KERNEL(mse_loss)
EC_CPU_KERNEL(rms_loss)
EC_CPU_KERNEL(sum_squares)
EC_CPU_KERNEL(transpose)

#undef EC_CPU_KERNEL


// Direct entry points (the op-table tests call these without a Program).
void forward(const OpCall& call, const Inputs& in, Tensor& out);
void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din);

}  // namespace ec::cpu
