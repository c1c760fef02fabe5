// LRN across channels: hand-computed ONNX values and finite-difference gradients.
#include <cmath>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"

namespace {

using namespace ec;
using Fwd = void (*)(const OpCall&, const Inputs&, Tensor&);
using Bwd = void (*)(const OpCall&, const Inputs&, const Tensor&, const Tensor&, const Grads&);

Tensor run(Fwd f, const OpCall& call, const std::vector<Tensor>& xs) {
  std::vector<Shape> shapes;
  Inputs in;
  for (const Tensor& x : xs) shapes.push_back(x.shape()), in.push_back(&x);
  Tensor out(infer_shape(call, shapes));
  out.fill(std::nanf(""));  // kernels must overwrite every element
  f(call, in, out);
  return out;
}

// Backward with dy = w, passing only what op_info says backward may read.
std::vector<Tensor> grads(Bwd b, const OpCall& call, const std::vector<Tensor>& xs, const Tensor& y, const Tensor& w) {
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
void check_grads(Fwd f, Bwd b, const OpCall& call, std::vector<Tensor> xs, float eps = 1e-2f, double tol = 1e-2) {
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
Tensor wave(Shape s, float amp = 1.f, float offset = 0.f) {
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = offset + amp * std::sin(1.3f * static_cast<float>(i) + 0.5f);
  return t;
}

void expect(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) {
  CHECK(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) CHECK_NEAR(t.data()[i], want[i], tol);
}

OpCall lrn(int size, float alpha, float beta, float bias) { return OpCall{Op::Lrn, LrnAttrs{size, alpha, beta, bias}}; }

}  // namespace

TEST(cpu_lrn_hand_case) {
  // size 3, alpha/size = 0.1: square sums 1+4, 1+4+9, 4+9 -> scales 1.5, 2.4, 2.3; y = x * s^-0.75.
  const Tensor x = Tensor::from({1, 1, 1, 3}, {1, 2, 3});
  expect(run(cpu::lrn_forward, lrn(3, 0.3f, 0.75f, 1.f), {x}), {0.7377879f, 1.0372216f, 1.6062953f});
  // Even size 2 takes one channel after (ONNX: floor below, ceil above): sums 1+4, 4+9, 9.
  expect(run(cpu::lrn_forward, lrn(2, 0.2f, 0.5f, 2.f), {x}), {0.6324555f, 1.1009638f, 1.7616607f});
  // A window wider than C clips to the row.
  const Tensor x5 = Tensor::from({5}, {1, -2, 3, 0.5f, -1});
  expect(run(cpu::lrn_forward, lrn(5, 0.1f, 0.75f, 1.f), {x5}),
         {0.8309837f, -1.6571150f, 2.4570465f, 0.4142788f, -0.8694802f});
}

TEST(cpu_lrn_rows_are_independent) {
  // The same channel vector in every pixel gives the same result in every pixel.
  std::vector<float> v;
  for (int p = 0; p < 6; ++p) v.insert(v.end(), {1, 2, 3});
  const Tensor y = run(cpu::lrn_forward, lrn(3, 0.3f, 0.75f, 1.f), {Tensor::from({2, 3, 1, 3}, v)});
  for (int p = 0; p < 6; ++p) expect(Tensor::from({3}, {y.data()[3 * p], y.data()[3 * p + 1], y.data()[3 * p + 2]}),
                                     {0.7377879f, 1.0372216f, 1.6062953f});
}

TEST(cpu_lrn_grad) {
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(3, 0.3f, 0.75f, 1.f), {wave({1, 2, 2, 7}, 1.5f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(4, 0.5f, 0.6f, 2.f), {wave({2, 1, 2, 9}, 2.f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(5, 1e-4f, 0.75f, 1.f), {wave({1, 1, 3, 6}, 3.f)}, 1e-3f);
  check_grads(cpu::lrn_forward, cpu::lrn_backward, lrn(1, 1.f, 1.f, 1.f), {wave({4, 3}, 1.f)}, 1e-3f);
}
