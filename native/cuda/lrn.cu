// Local response normalization across channels (the last axis) on the GPU,
// ONNX semantics as in native/cpu/lrn.cc:
//
//   s[c] = bias + alpha/size * sum_{c' in [c-lo, c+hi] ∩ [0,C)} x[c']^2
//   y[c] = x[c] * s[c]^-beta,   lo = floor((size-1)/2), hi = ceil((size-1)/2)
//
// A thread per element recomputes its window sums directly (windows are a few
// channels wide), in the CPU's order, so no shared state and no atomics.
#include "launch.cuh"

namespace ec::cuda {

namespace {

struct LrnArgs {
  int64_t c;
  int lo, hi;
  float coef, bias, beta;
};

LrnArgs lrn_args(const OpCall& call, const Shape& x) {
  const auto& a = call.get<LrnAttrs>();
  const int lo = (a.size - 1) / 2;
  return {x.back(), lo, a.size - 1 - lo, a.alpha / static_cast<float>(a.size), a.bias, a.beta};
}

// s[c] of the row starting at xr.
__device__ __forceinline__ float window_scale(const LrnArgs& a, const float* xr, int64_t c) {
  const int64_t b = c - a.lo > 0 ? c - a.lo : 0, e = c + a.hi + 1 < a.c ? c + a.hi + 1 : a.c;
  float sum = 0.f;
  for (int64_t k = b; k < e; ++k) sum += xr[k] * xr[k];
  return a.bias + a.coef * sum;
}

__global__ void lrn_kernel(LrnArgs a, const float* x, float* y, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t c = i % a.c;
    y[i] = x[i] * powf(window_scale(a, x + (i - c), c), -a.beta);
  }
}

// dx[j] = dy[j] s[j]^-beta - 2 beta alpha/size x[j] sum_{c in [j-hi, j+lo]} dy[c] x[c] s[c]^(-beta-1)
__global__ void lrn_grad_kernel(LrnArgs a, const float* x, const float* g, float* dx, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t j = i % a.c, row = i - j;
    const float *xr = x + row, *gr = g + row;
    const int64_t cb = j - a.hi > 0 ? j - a.hi : 0, ce = j + a.lo + 1 < a.c ? j + a.lo + 1 : a.c;
    float sum = 0.f;
    for (int64_t c = cb; c < ce; ++c) {
      const float s = window_scale(a, xr, c);
      sum += gr[c] * xr[c] * powf(s, -a.beta) / s;
    }
    dx[i] = gr[j] * powf(window_scale(a, xr, j), -a.beta) + (-2.f * a.beta * a.coef) * xr[j] * sum;
  }
}

}  // namespace

void lrn_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  if (out.numel() == 0) return;
  lrn_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(lrn_args(call, in[0]->shape()), in[0]->data(), out.data(),
                                                    out.numel());
  EC_CUDA_LAUNCH_CHECK();
}

void lrn_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  lrn_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(lrn_args(call, in[0]->shape()), in[0]->data(), dy.data(),
                                                         dx->data(), dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
