// Local response normalization across channels (the last axis), ONNX semantics:
//
//   s[c] = bias + alpha/size * sum_{c' in [c-lo, c+hi] ∩ [0,C)} x[c']^2
//   y[c] = x[c] * s[c]^-beta,   lo = floor((size-1)/2), hi = ceil((size-1)/2)
//
// Every row of C channels is independent; rows run in parallel.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

struct LrnShape {
  int64_t rows, c;
  int lo, hi;
  float coef;  // alpha / size
};

LrnShape lrn_shape(const OpCall& call, const Shape& x) {
  const auto& a = call.get<LrnAttrs>();
  LrnShape s;
  s.c = x.back();
  s.rows = s.c ? shape_numel(x) / s.c : 0;
  s.lo = (a.size - 1) / 2;
  s.hi = a.size - 1 - s.lo;
  s.coef = a.alpha / static_cast<float>(a.size);
  return s;
}

// s[c] for one row, written to `scale`.
void window_scale(const LrnShape& s, float bias, const float* x, float* scale) {
  for (int64_t c = 0; c < s.c; ++c) {
    const int64_t b = std::max<int64_t>(0, c - s.lo), e = std::min<int64_t>(s.c, c + s.hi + 1);
    float sum = 0.f;
    for (int64_t k = b; k < e; ++k) sum += x[k] * x[k];
    scale[c] = bias + s.coef * sum;
  }
}

template <class Fn>
void for_rows(const LrnShape& s, int size, Fn fn) {
  const int64_t row_work = std::max<int64_t>(1, s.c * (size + 8));
  parallel_for(0, s.rows, std::max<int64_t>(1, 16384 / row_work), fn);
}

}  // namespace

void lrn_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const auto& a = call.get<LrnAttrs>();
  const LrnShape s = lrn_shape(call, in[0]->shape());
  const float* x = in[0]->data();
  float* y = out.data();
  for_rows(s, a.size, [&](int64_t b, int64_t e) {
    std::vector<float> scale(s.c);
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * s.c;
      float* yr = y + r * s.c;
      window_scale(s, a.bias, xr, scale.data());
      for (int64_t c = 0; c < s.c; ++c) yr[c] = xr[c] * std::pow(scale[c], -a.beta);
    }
  });
}

// dx[j] = dy[j] s[j]^-beta - 2 beta alpha/size x[j] * sum_{c: j in window(c)} dy[c] x[c] s[c]^(-beta-1),
// and j is in window(c) exactly when c is in [j-hi, j+lo].
void lrn_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const auto& a = call.get<LrnAttrs>();
  const LrnShape s = lrn_shape(call, in[0]->shape());
  const float* x = in[0]->data();
  const float* gy = dy.data();
  float* dx = din[0]->data();
  const float k = -2.f * a.beta * s.coef;
  for_rows(s, a.size, [&](int64_t b, int64_t e) {
    std::vector<float> scale(s.c), pw(s.c), t(s.c);
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * s.c;
      const float* gr = gy + r * s.c;
      float* dr = dx + r * s.c;
      window_scale(s, a.bias, xr, scale.data());
      for (int64_t c = 0; c < s.c; ++c) {
        pw[c] = std::pow(scale[c], -a.beta);
        t[c] = gr[c] * xr[c] * pw[c] / scale[c];
      }
      for (int64_t j = 0; j < s.c; ++j) {
        const int64_t cb = std::max<int64_t>(0, j - s.hi), ce = std::min<int64_t>(s.c, j + s.lo + 1);
        float sum = 0.f;
        for (int64_t c = cb; c < ce; ++c) sum += t[c];
        dr[j] = gr[j] * pw[j] + k * xr[j] * sum;
      }
    }
  });
}

}  // namespace ec::cpu
