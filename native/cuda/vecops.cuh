// Vector routines for optimizers on the device, mirroring native/cpu/vecops.h
// (same names and semantics, tensors in device memory). Plain C++
// declarations so host code can call them. Reductions are the deterministic
// two-pass block sums in double, so results do not vary run to run; the
// routines returning a double copy one value back (and so wait for the GPU).
//
// The CUDA backend's vec_* methods (core/backend.h) call these.
#pragma once
#include <vector>

#include "common.cuh"

namespace ec::cuda {

double vec_dot(const Tensor& a, const Tensor& b);
// y += alpha * x
void vec_axpy(float alpha, const Tensor& x, Tensor& y);
// x *= alpha
void vec_scale(Tensor& x, float alpha);
// Σ|x| and sqrt(Σx²)
double vec_norm1(const Tensor& x);
double vec_norm2(const Tensor& x);
// Clamps each element to [lo[c], hi[c]] where c is its index along the last axis.
void vec_clamp_channels(Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi);
// One Adam update of x in place, with moments m and v (same shape), step t >= 1.
void vec_adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, float eps,
                   int t);
// NHWC image shifted by (dy, dx) pixels with wrap-around; a new device tensor.
Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx);

}  // namespace ec::cuda
