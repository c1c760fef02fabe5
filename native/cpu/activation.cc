// Pointwise activations: relu, clip, leaky_relu, sigmoid, tanh.
//
// Every kernel is a flat loop over numel elements, split across the thread
// pool in chunks large enough that scheduling costs are negligible. The loop
// bodies are branch-free selects so the compiler can vectorize them.
#include <cmath>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

// Below ~16K elements one thread beats waking the pool.
constexpr int64_t kGrain = 1 << 14;

// Applies fn(begin, end) over [0, n) in parallel chunks.
template <class F>
void for_chunks(int64_t n, F fn) {
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { fn(b, e); });
}


}  // namespace

void relu_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const float* x = in[0]->data();
  float* y = out.data();
  for_chunks(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
  });
}

// Reads the output (the input is not kept alive): y > 0 exactly where x > 0.
void relu_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float* y = out.data();
  const float* g = dy.data();
  float* d = dx->data();
  for_chunks(dx->numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = y[i] > 0.f ? g[i] : 0.f;
  });
}

void clip_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const auto& a = call.get<ClipAttrs>();
  const float lo = a.lo, hi = a.hi;
  const float* x = in[0]->data();
  float* y = out.data();
  for_chunks(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float v = x[i] < lo ? lo : x[i];
      y[i] = v > hi ? hi : v;
    }
  });
}

// Strict inequalities: at the bounds the gradient is zero (matches relu6 in TF).
void clip_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const auto& a = call.get<ClipAttrs>();
  const float lo = a.lo, hi = a.hi;
  const float* x = in[0]->data();
  const float* g = dy.data();
  float* d = dx->data();
  for_chunks(dx->numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = (x[i] > lo && x[i] < hi) ? g[i] : 0.f;
  });
}

void leaky_relu_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const float alpha = call.get<LeakyReluAttrs>().alpha;
  const float* x = in[0]->data();
  float* y = out.data();
  for_chunks(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.f ? x[i] : alpha * x[i];
  });
}

// Uses the input, not the output: a negative alpha would make the output's
// sign useless for telling the two branches apart.
void leaky_relu_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy,
                         const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float alpha = call.get<LeakyReluAttrs>().alpha;
  const float* x = in[0]->data();
  const float* g = dy.data();
  float* d = dx->data();
  for_chunks(dx->numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = x[i] > 0.f ? g[i] : alpha * g[i];
  });
}

// 1/(1+exp(-x)) is safe at both ends in float: exp overflows to inf for very
// negative x, giving exactly 0, and underflows to 0 for large x, giving 1.
void sigmoid_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const float* x = in[0]->data();
  float* y = out.data();
  for_chunks(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
  });
}

void sigmoid_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float* y = out.data();
  const float* g = dy.data();
  float* d = dx->data();
  for_chunks(dx->numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = g[i] * y[i] * (1.f - y[i]);
  });
}

void tanh_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const float* x = in[0]->data();
  float* y = out.data();
  for_chunks(out.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = std::tanh(x[i]);
  });
}

void tanh_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float* y = out.data();
  const float* g = dy.data();
  float* d = dx->data();
  for_chunks(dx->numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = g[i] * (1.f - y[i] * y[i]);
  });
}

}  // namespace ec::cpu
