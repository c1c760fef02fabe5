// Helpers shared by the per-op kernel tests: run a kernel into NaN-poisoned
// buffers (so unwritten elements show), run backward the way the Program
// does (inputs/output only where OpInfo says), finite-difference checks.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"

namespace ec::test::kernel_check {

using namespace ec;
using Fwd = void (*)(const OpCall&, const Inputs&, Tensor&);
using Bwd = void (*)(const OpCall&, const Inputs&, const Tensor&, const Tensor&, const Grads&);

// Kernel outputs start as garbage; NaN-poisoned buffers catch unwritten elements.
inline Tensor poisoned(const Shape& s) {
  Tensor t(s);
  t.fill(NAN);
  return t;
}

inline Tensor run(Fwd f, const OpCall& call, const std::vector<Tensor>& xs) {
  std::vector<Shape> shapes;
  Inputs in;
  for (const Tensor& x : xs) shapes.push_back(x.shape()), in.push_back(&x);
  Tensor out = poisoned(infer_shape(call, shapes));
  f(call, in, out);
  return out;
}

// Backward as the Program calls it: inputs/output only where OpInfo says so,
// and din[i] null where want[i] is false (an empty `want` asks for all).
inline std::vector<Tensor> run_backward(Fwd f, Bwd b, const OpCall& call, const std::vector<Tensor>& xs, const Tensor& dy,
                                 const std::vector<bool>& want = {}) {
  const OpInfo& info = op_info(call.op);
  const Tensor y = run(f, call, xs);
  Inputs in;
  std::vector<Tensor> grads;
  for (const Tensor& x : xs) {
    in.push_back(info.backward_needs_inputs ? &x : nullptr);
    grads.push_back(poisoned(x.shape()));
  }
  Grads din;
  for (size_t i = 0; i < grads.size(); ++i) din.push_back(want.empty() || want[i] ? &grads[i] : nullptr);
  b(call, in, info.backward_needs_output ? y : Tensor(), dy, din);
  return grads;
}

// Deterministic pseudo-random values in [lo, hi).
inline std::vector<float> values(int64_t n, float lo, float hi, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = lo + (hi - lo) * static_cast<float>(seed >> 8) / 16777216.f;
  }
  return v;
}

// Compares backward with central differences of L = sum(w * forward(x)).
inline void check_grad(Fwd f, Bwd b, const OpCall& call, std::vector<Tensor> xs, double eps, double tol) {
  const Tensor y = run(f, call, xs);
  const Tensor w = Tensor::from(y.shape(), values(y.numel(), -1.f, 1.f, 99));
  const std::vector<Tensor> grads = run_backward(f, b, call, xs, w);
  auto loss = [&] {
    const Tensor o = run(f, call, xs);
    double s = 0;
    for (int64_t k = 0; k < o.numel(); ++k) s += double(w.data()[k]) * o.data()[k];
    return s;
  };
  for (size_t i = 0; i < xs.size(); ++i)
    for (int64_t k = 0; k < xs[i].numel(); ++k) {
      float& v = xs[i].data()[k];
      const float keep = v;
      v = keep + eps;
      const double lp = loss();
      v = keep - eps;
      const double lm = loss();
      v = keep;
      const double num = (lp - lm) / (2 * eps), ana = grads[i].data()[k];
      if (!(std::fabs(num - ana) <= tol * std::max(1.0, std::fabs(ana))))
        EC_FAIL(op_name(call.op) << " input " << i << " element " << k << ": analytic " << ana << " numeric " << num);
    }
}

inline void check_values(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) {
  CHECK(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) CHECK_NEAR(t.data()[i], want[i], tol);
}


// Backward with dy = w, passing only what op_info says backward may read.
inline std::vector<Tensor> grads(Bwd b, const OpCall& call, const std::vector<Tensor>& xs, const Tensor& y, const Tensor& w) {
  const OpInfo& info = op_info(call.op);
  Inputs in;
  Grads din;
  std::vector<Tensor> g;
  for (const Tensor& x : xs) {
    in.push_back(info.backward_needs_inputs ? &x : nullptr);
    g.emplace_back(x.shape());
    g.back().fill(std::nanf(""));
  }
  for (Tensor& t : g) din.push_back(&t);
  b(call, in, info.backward_needs_output ? y : Tensor(), w, din);
  return g;
}

// Compares the analytic gradient of L = sum(y * w) with central differences.
inline void check_grads(Fwd f, Bwd b, const OpCall& call, std::vector<Tensor> xs, float eps = 1e-2f, double tol = 1e-2) {
  const Tensor y = run(f, call, xs);
  Tensor w(y.shape());
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = 0.3f + 0.1f * static_cast<float>((i * 7) % 13) - 0.6f;
  const std::vector<Tensor> g = grads(b, call, xs, y, w);
  auto loss = [&] {
    const Tensor t = run(f, call, xs);
    double s = 0;
    for (int64_t i = 0; i < t.numel(); ++i) s += static_cast<double>(t.data()[i]) * w.data()[i];
    return s;
  };
  for (size_t k = 0; k < xs.size(); ++k)
    for (int64_t i = 0; i < xs[k].numel(); ++i) {
      float& v = xs[k].data()[i];
      const float orig = v;
      v = orig + eps;
      const double lp = loss();
      v = orig - eps;
      const double lm = loss();
      v = orig;
      const double num = (lp - lm) / (2.0 * eps);
      CHECK_NEAR(g[k].data()[i], num, tol * (1.0 + std::fabs(num)));
    }
}

// Smooth, non-repeating test values in [offset - amp, offset + amp].
inline Tensor wave(Shape s, float amp = 1.f, float offset = 0.f) {
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = offset + amp * std::sin(1.3f * static_cast<float>(i) + 0.5f);
  return t;
}

// The hand-case files of the pool family call it expect().
inline void expect(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) { check_values(t, want, tol); }

}  // namespace ec::test::kernel_check
