// Pointwise activations: relu, clip, leaky_relu, sigmoid, tanh, abs.
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

// y[i] = f(x[i]) over the op's one input.
template <class F>
void unary(const Inputs& in, Tensor& out, F f) {
  const float* x = in[0]->data();
  float* y = out.data();
  parallel_for(0, out.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

// dx[i] = f(s[i], dy[i]), s being the saved input or output; nothing when
// the input's gradient is not wanted.
template <class F>
void unary_grad(const Tensor& saved, const Tensor& dy, const Grads& din, F f) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float* s = saved.data();
  const float* g = dy.data();
  float* d = dx->data();
  parallel_for(0, dx->numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = f(s[i], g[i]);
  });
}

}  // namespace

void relu_forward(const OpCall&, const Inputs& in, Tensor& out) {
  unary(in, out, [](float x) { return x > 0.f ? x : 0.f; });
}

// Reads the output (the input is not kept alive): y > 0 exactly where x > 0.
void relu_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  unary_grad(out, dy, din, [](float y, float g) { return y > 0.f ? g : 0.f; });
}

void clip_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const float lo = call.get<ClipAttrs>().lo, hi = call.get<ClipAttrs>().hi;
  unary(in, out, [lo, hi](float x) {
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  });
}

// Strict inequalities: at the bounds the gradient is zero (matches relu6 in TF).
void clip_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const float lo = call.get<ClipAttrs>().lo, hi = call.get<ClipAttrs>().hi;
  unary_grad(*in[0], dy, din, [lo, hi](float x, float g) { return (x > lo && x < hi) ? g : 0.f; });
}

void leaky_relu_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const float alpha = call.get<LeakyReluAttrs>().alpha;
  unary(in, out, [alpha](float x) { return x > 0.f ? x : alpha * x; });
}

// Uses the input, not the output: a negative alpha would make the output's
// sign useless for telling the two branches apart.
void leaky_relu_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy,
                         const Grads& din) {
  const float alpha = call.get<LeakyReluAttrs>().alpha;
  unary_grad(*in[0], dy, din, [alpha](float x, float g) { return x > 0.f ? g : alpha * g; });
}

// 1/(1+exp(-x)) is safe at both ends in float: exp overflows to inf for very
// negative x, giving exactly 0, and underflows to 0 for large x, giving 1.
void sigmoid_forward(const OpCall&, const Inputs& in, Tensor& out) {
  unary(in, out, [](float x) { return 1.f / (1.f + std::exp(-x)); });
}

void sigmoid_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  unary_grad(out, dy, din, [](float y, float g) { return g * y * (1.f - y); });
}

void tanh_forward(const OpCall&, const Inputs& in, Tensor& out) {
  unary(in, out, [](float x) { return std::tanh(x); });
}

void tanh_backward(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  unary_grad(out, dy, din, [](float y, float g) { return g * (1.f - y * y); });
}

void abs_forward(const OpCall&, const Inputs& in, Tensor& out) {
  unary(in, out, [](float x) { return std::fabs(x); });
}

// d|x|/dx = sign(x), taken as 0 at 0.
void abs_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  unary_grad(*in[0], dy, din, [](float x, float g) { return x > 0.f ? g : x < 0.f ? -g : 0.f; });
}

}  // namespace ec::cpu
