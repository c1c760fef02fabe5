// Bilinear resize: hand-computed values for each coordinate mode and
// finite-difference gradients of the scatter backward.
#include <cmath>

#include "../../core/ops.h"
#include "../../cpu/kernels.h"
#include "../test.h"
#include "kernel_check.h"

namespace {

using namespace ec;
using namespace ec::test::kernel_check;


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
