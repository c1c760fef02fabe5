// Softmax and log-softmax along one axis.
//
// The tensor is viewed as [outer, A, inner] with A the softmax axis. Work is
// cut into panels: one outer index and up to kCols neighbouring inner columns.
// Inside a panel every pass walks the A rows and updates kCols independent
// columns, so the innermost loop is contiguous whenever inner > 1; with
// inner == 1 (softmax over the last axis) a panel is simply one row.
// Numerically stable: the per-column maximum is subtracted before exp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

constexpr int64_t kCols = 64;
constexpr int64_t kGrain = 1 << 14;

struct Layout {
  int64_t outer = 1, axis = 1, inner = 1;
};

Layout layout_of(const char* who, const OpCall& call, const Shape& s) {
  const int ax = normalize_axis(who, call.get<AxisAttrs>().axis, static_cast<int>(s.size()));
  Layout l;
  for (int d = 0; d < static_cast<int>(s.size()); ++d) {
    if (d < ax) l.outer *= s[d];
    else if (d == ax) l.axis = s[d];
    else l.inner *= s[d];
  }
  return l;
}

// Calls panel(offset, width, scratch_a, scratch_b) for every panel, in parallel.
// `offset` is the flat index of element (o, 0, j0).
template <class F>
void for_panels(const Layout& l, F panel) {
  if (l.outer * l.axis * l.inner == 0) return;
  const int64_t blocks = (l.inner + kCols - 1) / kCols;
  const int64_t cost = l.axis * std::min(l.inner, kCols);
  parallel_for(0, l.outer * blocks, std::max<int64_t>(1, kGrain / cost), [&](int64_t s, int64_t e) {
    std::vector<float> a(kCols), b(kCols);
    for (int64_t it = s; it < e; ++it) {
      const int64_t o = it / blocks, j0 = (it % blocks) * kCols;
      panel(o * l.axis * l.inner + j0, std::min(kCols, l.inner - j0), a.data(), b.data());
    }
  });
}

template <bool kLog>
void forward_impl(const char* who, const OpCall& call, const Inputs& in, Tensor& out) {
  const Layout l = layout_of(who, call, out.shape());
  const float* x = in[0]->data();
  float* y = out.data();
  const int64_t A = l.axis, st = l.inner;
  for_panels(l, [&](int64_t off, int64_t w, float* mx, float* sm) {
    const float* xp = x + off;
    float* yp = y + off;
    std::fill(mx, mx + w, -std::numeric_limits<float>::infinity());
    for (int64_t a = 0; a < A; ++a)
      for (int64_t j = 0; j < w; ++j) mx[j] = std::max(mx[j], xp[a * st + j]);
    std::fill(sm, sm + w, 0.f);
    for (int64_t a = 0; a < A; ++a) {
      for (int64_t j = 0; j < w; ++j) {
        const float e = std::exp(xp[a * st + j] - mx[j]);
        sm[j] += e;
        if (!kLog) yp[a * st + j] = e;  // log-softmax must not clobber x (it may alias y)
      }
    }
    if (kLog) {
      // (x - max) - log(sum): subtracting max first keeps precision when |x| is large (1e4).
      for (int64_t j = 0; j < w; ++j) sm[j] = std::log(sm[j]);
      for (int64_t a = 0; a < A; ++a)
        for (int64_t j = 0; j < w; ++j) yp[a * st + j] = (xp[a * st + j] - mx[j]) - sm[j];
    } else {
      for (int64_t j = 0; j < w; ++j) sm[j] = 1.f / sm[j];
      for (int64_t a = 0; a < A; ++a)
        for (int64_t j = 0; j < w; ++j) yp[a * st + j] *= sm[j];
    }
  });
}

}  // namespace

void softmax_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  forward_impl<false>("softmax", call, in, out);
}

void log_softmax_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  forward_impl<true>("log_softmax", call, in, out);
}

// dx = y * (dy - sum_a(dy * y)), from the output alone.
void softmax_backward(const OpCall& call, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  Tensor* dx = din.empty() ? nullptr : din[0];
  if (!dx) return;
  const Layout l = layout_of("softmax", call, out.shape());
  const float *y = out.data(), *g = dy.data();
  float* d = dx->data();
  const int64_t A = l.axis, st = l.inner;
  for_panels(l, [&](int64_t off, int64_t w, float* dot, float*) {
    std::fill(dot, dot + w, 0.f);
    for (int64_t a = 0; a < A; ++a)
      for (int64_t j = 0; j < w; ++j) dot[j] += g[off + a * st + j] * y[off + a * st + j];
    for (int64_t a = 0; a < A; ++a)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t i = off + a * st + j;
        d[i] = y[i] * (g[i] - dot[j]);
      }
  });
}

// dx = dy - softmax(x) * sum_a(dy), where softmax(x) = exp(y).
void log_softmax_backward(const OpCall& call, const Inputs&, const Tensor& out, const Tensor& dy,
                          const Grads& din) {
  Tensor* dx = din.empty() ? nullptr : din[0];
  if (!dx) return;
  const Layout l = layout_of("log_softmax", call, out.shape());
  const float *y = out.data(), *g = dy.data();
  float* d = dx->data();
  const int64_t A = l.axis, st = l.inner;
  for_panels(l, [&](int64_t off, int64_t w, float* sum, float*) {
    std::fill(sum, sum + w, 0.f);
    for (int64_t a = 0; a < A; ++a)
      for (int64_t j = 0; j < w; ++j) sum[j] += g[off + a * st + j];
    for (int64_t a = 0; a < A; ++a)
      for (int64_t j = 0; j < w; ++j) {
        const int64_t i = off + a * st + j;
        d[i] = g[i] - std::exp(y[i]) * sum[j];
      }
  });
}

}  // namespace ec::cpu
