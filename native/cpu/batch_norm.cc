// Inference batch normalization over the last axis:
//
//   y = (x - mean) * r * scale + bias,   r = 1/sqrt(var + eps)
//
// Inputs: x[...,C], scale[C], bias[C], mean[C], var[C]. The backward pass
// gives gradients for all five; the per-channel ones are reductions over rows,
// done in fixed row chunks with per-chunk partials so results do not depend
// on thread timing.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

std::vector<float> inv_std(const float* var, int64_t c, float eps) {
  std::vector<float> r(c);
  for (int64_t i = 0; i < c; ++i) r[i] = 1.f / std::sqrt(var[i] + eps);
  return r;
}

}  // namespace

void batch_norm_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const float eps = call.get<BatchNormAttrs>().epsilon;
  const int64_t C = in[0]->shape().back();
  if (C == 0) return;
  const int64_t rows = in[0]->numel() / C;
  const float *x = in[0]->data(), *scale = in[1]->data(), *bias = in[2]->data(), *mean = in[3]->data();
  // Subtracting the mean first (rather than folding it into the bias) keeps
  // precision when x and mean are large and close.
  const std::vector<float> r = inv_std(in[4]->data(), C, eps);
  std::vector<float> mul(C);
  for (int64_t c = 0; c < C; ++c) mul[c] = r[c] * scale[c];
  float* y = out.data();
  parallel_for(0, rows, std::max<int64_t>(1, 32768 / C), [&](int64_t b, int64_t e) {
    // __restrict: y never aliases the parameters, which lets the channel loop vectorize.
    const float* __restrict m = mean;
    const float* __restrict k = mul.data();
    const float* __restrict a = bias;
    for (int64_t i = b; i < e; ++i) {
      const float* __restrict xr = x + i * C;
      float* __restrict yr = y + i * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m[c]) * k[c] + a[c];
    }
  });
}

void batch_norm_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const float eps = call.get<BatchNormAttrs>().epsilon;
  const int64_t C = in[0]->shape().back();
  const int64_t rows = C ? in[0]->numel() / C : 0;
  const float *x = in[0]->data(), *scale = in[1]->data(), *mean = in[3]->data(), *var = in[4]->data();
  const float* gy = dy.data();
  const std::vector<float> r = inv_std(var, C, eps);

  if (din[0]) {
    std::vector<float> mul(C);
    for (int64_t c = 0; c < C; ++c) mul[c] = r[c] * scale[c];
    float* dx = din[0]->data();
    parallel_for(0, rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, C)), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t c = 0; c < C; ++c) dx[i * C + c] = gy[i * C + c] * mul[c];
    });
  }
  if (!din[1] && !din[2] && !din[3] && !din[4]) return;

  // sum_dy[c] = sum dy, sum_dxc[c] = sum dy * (x - mean), accumulated in double per chunk.
  const int64_t chunk_rows = std::max<int64_t>(64, 32768 / std::max<int64_t>(1, C));
  const int64_t chunks = std::max<int64_t>(1, (rows + chunk_rows - 1) / chunk_rows);
  std::vector<double> part(static_cast<size_t>(chunks) * 2 * C, 0.0);
  parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      double* sdy = part.data() + k * 2 * C;
      double* sdxc = sdy + C;
      const int64_t r1 = std::min(rows, (k + 1) * chunk_rows);
      for (int64_t i = k * chunk_rows; i < r1; ++i)
        for (int64_t c = 0; c < C; ++c) {
          const double g = gy[i * C + c];
          sdy[c] += g;
          sdxc[c] += g * (static_cast<double>(x[i * C + c]) - mean[c]);
        }
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double sdy = 0, sdxc = 0;
    for (int64_t k = 0; k < chunks; ++k) {
      sdy += part[k * 2 * C + c];
      sdxc += part[k * 2 * C + C + c];
    }
    const double rc = r[c];
    if (din[1]) din[1]->data()[c] = static_cast<float>(sdxc * rc);
    if (din[2]) din[2]->data()[c] = static_cast<float>(sdy);
    if (din[3]) din[3]->data()[c] = static_cast<float>(-sdy * scale[c] * rc);
    // d/dvar of (var+eps)^-1/2 is -1/2 (var+eps)^-3/2 = -r^3/2.
    if (din[4]) din[4]->data()[c] = static_cast<float>(-0.5 * scale[c] * rc * rc * rc * sdxc);
  }
}

}  // namespace ec::cpu
