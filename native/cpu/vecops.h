// Vector and small linear-algebra routines for optimizers and tasks, outside
// the graph (nothing differentiates through them). Each is one call over a
// whole tensor so L-BFGS, Adam and the Dream steps never loop over pixels in JS.
//
// All tensors are host float32; "in place" routines overwrite their first
// tensor argument. Sums accumulate in double.
#pragma once
#include <vector>

#include "../core/tensor.h"

namespace ec::cpu {

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
// NHWC image shifted by (dy, dx) pixels with wrap-around (Deep Dream's jitter).
Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx);

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic
// Jacobi rotations: values descending, vectors as rows (vectors[k*n + i] is
// component i of the k-th eigenvector). Throws when the matrix is not square
// or not symmetric within 1e-4 relative.
void sym_eig(const std::vector<double>& a, int n, std::vector<double>& values, std::vector<double>& vectors);

}  // namespace ec::cpu
