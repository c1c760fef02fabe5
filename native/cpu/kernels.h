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

// One forward and one backward per row of EC_OPS (op_table.h), named by its
// kernel column: relu_forward, relu_backward, ...
#undef EC_KERNEL_SUFFIX
#define EC_KERNEL_SUFFIX
EC_OPS(EC_DECLARE_KERNEL)

// conv2d's forward with an activation applied as the output is written
// (conv2d_forward runs it with none).
void conv2d_forward(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep);

// max_pool's backward fused with the backward of the relu whose output it
// pools, written over that output: x holds the relu's output y and becomes
// the gradient at the relu's input (each window's dy goes to its first
// maximal cell where y > 0, zero everywhere else). Exactly max_pool_backward
// followed by relu_backward, without a buffer of x's size. Only for windows
// that never share a cell (stride >= span, e.g. VGG's 2x2/2); false, with x
// untouched, otherwise.
bool max_pool_relu_backward_in_place(const OpCall& pool, Tensor& x, const Tensor& dy);

// How 3x3 stride-1 convolutions run (forward and backward to the input):
// -1 measured per shape (the default), 0 im2col + GEMM, 1 Winograd F(4x4,3x3)
// in small per-thread blocks, 2 Winograd in large blocks, 3 the same with all
// filters transformed at once. EYECANDY_CONV_ALGO
// (im2col | winograd) sets the starting value.
void set_conv_algo(int algo);

// Input i's gradient buffer in a backward kernel, or null when it is not wanted.
inline Tensor* grad(const Grads& din, size_t i) { return i < din.size() ? din[i] : nullptr; }


// Direct entry points (the op-table tests call these without a Program).
void forward(const OpCall& call, const Inputs& in, Tensor& out);
void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din);

}  // namespace ec::cpu
