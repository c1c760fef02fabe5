// Gram matrix: hand-computed values (including an asymmetric dG), a naive
// reference on a larger tensor, and a finite-difference gradient check.
#include <cmath>
#include <cstdint>
#include <vector>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"

namespace {

using namespace ec;
using Fwd = void (*)(const OpCall&, const Inputs&, Tensor&);
using Bwd = void (*)(const OpCall&, const Inputs&, const Tensor&, const Tensor&, const Grads&);

// Kernel outputs start as garbage; NaN-poisoned buffers catch unwritten elements.
Tensor poisoned(const Shape& s) {
  Tensor t(s);
  t.fill(NAN);
  return t;
}

Tensor run(Fwd f, const OpCall& call, const std::vector<Tensor>& xs) {
  std::vector<Shape> shapes;
  Inputs in;
  for (const Tensor& x : xs) shapes.push_back(x.shape()), in.push_back(&x);
  Tensor out = poisoned(infer_shape(call, shapes));
  f(call, in, out);
  return out;
}

// Backward as the Program calls it: inputs/output only where OpInfo says so,
// and din[i] null where want[i] is false (an empty `want` asks for all).
std::vector<Tensor> run_backward(Fwd f, Bwd b, const OpCall& call, const std::vector<Tensor>& xs, const Tensor& dy,
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
std::vector<float> values(int64_t n, float lo, float hi, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = lo + (hi - lo) * static_cast<float>(seed >> 8) / 16777216.f;
  }
  return v;
}

// Compares backward with central differences of L = sum(w * forward(x)).
void check_grad(Fwd f, Bwd b, const OpCall& call, std::vector<Tensor> xs, double eps, double tol) {
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

void check_values(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) {
  CHECK(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) CHECK_NEAR(t.data()[i], want[i], tol);
}

const OpCall kGram{Op::Gram, NoAttrs{}};

// G[n,i,j] = sum_p F[n,p,i] F[n,p,j] / P, in double.
Tensor naive_gram(const Tensor& f) {
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  Tensor g({n, c, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < c; ++j) {
        double s = 0;
        for (int64_t q = 0; q < p; ++q) s += double(f.data()[(b * p + q) * c + i]) * f.data()[(b * p + q) * c + j];
        g.data()[(b * c + i) * c + j] = float(s / p);
      }
  return g;
}

}  // namespace

TEST(gram_hand) {
  // One item, two pixels (1,2) and (3,4): G = [[1+9, 2+12], [2+12, 4+16]] / 2.
  const Tensor f = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor g = run(cpu::gram_forward, kGram, {f});
  CHECK(g.shape() == Shape({1, 2, 2}));
  check_values(g, {5, 7, 7, 10});
  // Two items are independent: the second is [[0,1],[1,0]] over 2x1 pixels.
  const Tensor f2 = Tensor::from({2, 2, 1, 2}, {1, 2, 3, 4, 0, 1, 1, 0});
  check_values(run(cpu::gram_forward, kGram, {f2}), {5, 7, 7, 10, 0.5f, 0, 0, 0.5f});
}

TEST(gram_backward_hand) {
  // dF = F (dG + dG^T) / P with dG = [[1,0],[0,0]]: F [[2,0],[0,0]] / 2 keeps column 0.
  const Tensor f = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  auto g = run_backward(cpu::gram_forward, cpu::gram_backward, kGram, {f}, Tensor::from({1, 2, 2}, {1, 0, 0, 0}));
  check_values(g[0], {1, 0, 3, 0});
  // An asymmetric dG = [[0,1],[0,0]] counts for both off-diagonal entries: F [[0,1],[1,0]] / 2.
  g = run_backward(cpu::gram_forward, cpu::gram_backward, kGram, {f}, Tensor::from({1, 2, 2}, {0, 1, 0, 0}));
  check_values(g[0], {1, 0.5f, 2, 1.5f});
}

TEST(gram_matches_reference) {
  const Tensor f = Tensor::from({2, 5, 7, 9}, values(2 * 5 * 7 * 9, -1.f, 1.f, 40));
  const Tensor g = run(cpu::gram_forward, kGram, {f}), want = naive_gram(f);
  for (int64_t i = 0; i < g.numel(); ++i) CHECK_NEAR(g.data()[i], want.data()[i], 1e-5);
}

TEST(gram_grad) {
  check_grad(cpu::gram_forward, cpu::gram_backward, kGram,
             {Tensor::from({2, 3, 2, 4}, values(48, -1.f, 1.f, 41))}, 1e-2, 1e-2);
}
