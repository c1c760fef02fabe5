// Bilinear resize: hand-computed values for each coordinate mode and
// finite-difference gradients of the scatter backward.
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

OpCall resize(int h, int w, ResizeCoord coord) { return OpCall{Op::ResizeBilinear, ResizeAttrs{h, w, coord}}; }

Tensor k2x2() { return Tensor::from({1, 2, 2, 1}, {1, 2, 3, 4}); }

}  // namespace

TEST(cpu_resize_half_pixel_2x2_to_4x4) {
  // Source coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the edge): same as
  // PyTorch align_corners=False.
  expect(run(cpu::resize_bilinear_forward, resize(4, 4, ResizeCoord::HalfPixel), {k2x2()}),
         {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  // Downsampling 4 -> 2 samples at 0.5 and 2.5.
  expect(run(cpu::resize_bilinear_forward, resize(1, 2, ResizeCoord::HalfPixel), {Tensor::from({1, 1, 4, 1}, {1, 2, 3, 4})}),
         {1.5f, 3.5f});
}

TEST(cpu_resize_align_corners_2x2_to_4x4) {
  const float t = 1.f / 3, tt = 2.f / 3;
  expect(run(cpu::resize_bilinear_forward, resize(4, 4, ResizeCoord::AlignCorners), {k2x2()}),
         {1, 1 + t, 1 + tt, 2, 1 + tt, 2, 2 + t, 2 + tt, 2 + t, 2 + tt, 3, 3 + t, 3, 3 + t, 3 + tt, 4});
  // One output pixel samples the corner.
  expect(run(cpu::resize_bilinear_forward, resize(1, 1, ResizeCoord::AlignCorners), {k2x2()}), {1});
}

TEST(cpu_resize_asymmetric_2x2_to_4x4) {
  // Source coordinates 0, 0.5, 1, 1.5 (clamped).
  expect(run(cpu::resize_bilinear_forward, resize(4, 4, ResizeCoord::Asymmetric), {k2x2()}),
         {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4});
}

TEST(cpu_resize_channels_and_batch) {
  // Channels resize independently: channel 1 is 10x channel 0, image 1 is image 0 + 100.
  std::vector<float> v;
  for (int n = 0; n < 2; ++n)
    for (float a : {1.f, 2.f, 3.f, 4.f}) v.push_back(a + 100 * n), v.push_back(10 * a + 100 * n);
  const Tensor y = run(cpu::resize_bilinear_forward, resize(4, 4, ResizeCoord::HalfPixel), {Tensor::from({2, 2, 2, 2}, v)});
  const float want[] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
  for (int n = 0; n < 2; ++n)
    for (int p = 0; p < 16; ++p) {
      CHECK_NEAR(y.data()[(n * 16 + p) * 2], want[p] + 100 * n, 1e-4);
      CHECK_NEAR(y.data()[(n * 16 + p) * 2 + 1], 10 * want[p] + 100 * n, 1e-4);
    }
}

TEST(cpu_resize_backward_hand_case) {
  // Half-pixel 2 -> 4: per axis the weights onto source 0 are 1, .75, .25, 0 (sum 2), and the same onto 1.
  const OpCall call = resize(4, 4, ResizeCoord::HalfPixel);
  Tensor dy({1, 4, 4, 1});
  dy.fill(1.f);
  expect(grads(cpu::resize_bilinear_backward, call, {k2x2()}, Tensor(), dy)[0], {4, 4, 4, 4});
  // Align corners 2 -> 3 (coordinates 0, .5, 1): a single dy at the centre splits evenly.
  Tensor d3 = Tensor::from({1, 3, 3, 1}, {0, 0, 0, 0, 8, 0, 0, 0, 0});
  expect(grads(cpu::resize_bilinear_backward, resize(3, 3, ResizeCoord::AlignCorners), {k2x2()}, Tensor(), d3)[0],
         {2, 2, 2, 2});
}

TEST(cpu_resize_grad) {
  for (ResizeCoord coord : {ResizeCoord::HalfPixel, ResizeCoord::AlignCorners, ResizeCoord::Asymmetric}) {
    check_grads(cpu::resize_bilinear_forward, cpu::resize_bilinear_backward, resize(5, 7, coord), {wave({2, 3, 4, 2})});
    check_grads(cpu::resize_bilinear_forward, cpu::resize_bilinear_backward, resize(2, 3, coord), {wave({1, 5, 7, 3})});
    check_grads(cpu::resize_bilinear_forward, cpu::resize_bilinear_backward, resize(1, 4, coord), {wave({1, 1, 1, 2})});
  }
  // Several channel blocks.
  check_grads(cpu::resize_bilinear_forward, cpu::resize_bilinear_backward, resize(3, 3, ResizeCoord::HalfPixel),
              {wave({2, 2, 2, 70})});
}
