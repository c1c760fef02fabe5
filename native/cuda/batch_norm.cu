// Inference batch normalization over the last axis on the GPU:
//
//   y = (x - mean) * r * scale + bias,   r = 1/sqrt(var + eps)
//
// Forward and dx are pointwise (r recomputed per element: one sqrt and one
// division, cheaper than a separate launch). The per-channel gradients need
// sum(dy) and sum(dy * (x - mean)) over rows: two deterministic column
// reductions in double, then one small kernel forms the four gradients in
// double as the CPU does.
#include "reduce.cuh"

namespace ec::cuda {

namespace {

__global__ void batch_norm_kernel(const float* x, const float* scale, const float* bias, const float* mean,
                                  const float* var, float eps, int64_t C, float* y, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t c = i % C;
    const float mul = (1.f / sqrtf(var[c] + eps)) * scale[c];
    y[i] = (x[i] - mean[c]) * mul + (bias ? bias[c] : 0.f);
  }
}

struct CenteredTerm {  // dy * (x - mean) at row r, channel k
  const float *dy, *x, *mean;
  int64_t C;
  __device__ double operator()(int64_t k, int64_t r) const {
    return static_cast<double>(dy[r * C + k]) * (static_cast<double>(x[r * C + k]) - mean[k]);
  }
};

__global__ void batch_norm_params_grad_kernel(const float* sdy, const float* sdxc, const float* scale,
                                              const float* var, float eps, int64_t C, float* dscale, float* dbias,
                                              float* dmean, float* dvar) {
  EC_GRID_STRIDE(c, C) {
    const double rc = 1.f / sqrtf(var[c] + eps);  // the float r of the forward, widened
    if (dscale) dscale[c] = static_cast<float>(sdxc[c] * rc);
    if (dbias) dbias[c] = sdy[c];
    if (dmean) dmean[c] = static_cast<float>(-static_cast<double>(sdy[c]) * scale[c] * rc);
    // d/dvar of (var+eps)^-1/2 is -r^3/2.
    if (dvar) dvar[c] = static_cast<float>(-0.5 * scale[c] * rc * rc * rc * sdxc[c]);
  }
}

}  // namespace

void batch_norm_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const int64_t C = in[0]->shape().back(), n = out.numel();
  if (n == 0 || C == 0) return;
  batch_norm_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0]->data(), in[1]->data(), in[2]->data(), in[3]->data(),
                                                 in[4]->data(), call.get<BatchNormAttrs>().epsilon, C, out.data(), n);
  EC_CUDA_LAUNCH_CHECK();
}

void batch_norm_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy,
                              const Grads& din) {
  const float eps = call.get<BatchNormAttrs>().epsilon;
  const int64_t C = in[0]->shape().back(), n = in[0]->numel(), rows = C ? n / C : 0;
  const float *x = in[0]->data(), *scale = in[1]->data(), *mean = in[3]->data(), *var = in[4]->data();
  if (Tensor* dx = grad_at(din, 0); dx && n > 0) {
    // dx = dy * r * scale: the forward with x = dy, mean = 0, bias = 0.
    Tensor zeros = scratch(C);
    fill_cuda(zeros.data(), C, 0.f);
    batch_norm_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(dy.data(), scale, nullptr, zeros.data(), var, eps, C, dx->data(),
                                                   n);
    EC_CUDA_LAUNCH_CHECK();
  }
  Tensor *ds = grad_at(din, 1), *dbias = grad_at(din, 2), *dm = grad_at(din, 3), *dv = grad_at(din, 4);
  if ((!ds && !dbias && !dm && !dv) || C == 0) return;
  Tensor sums = scratch(2 * C);
  float *sdy = sums.data(), *sdxc = sums.data() + C;
  column_sums_cuda(dy.data(), rows, C, sdy);
  reduce_cuda(CenteredTerm{dy.data(), x, mean, C}, C, rows, 1.0, sdxc);
  batch_norm_params_grad_kernel<<<blocks_for(C), kThreads, 0, stream()>>>(sdy, sdxc, scale, var, eps, C, ds ? ds->data() : nullptr,
                                                             dbias ? dbias->data() : nullptr, dm ? dm->data() : nullptr,
                                                             dv ? dv->data() : nullptr);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
