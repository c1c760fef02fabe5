// Bilinear resize, NHWC. Each output row/column maps to a source coordinate
// (per ResizeCoord), which picks two neighbouring source indices, clamped to
// the edge, and a blend weight. The maps are separable, so they are computed
// once per axis and shared by every image and channel.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

constexpr int64_t kChannelBlock = 64;

// value = (1 - w1) * x[i0] + w1 * x[i1]
struct Tap {
  int64_t i0, i1;
  float w1;
};

std::vector<Tap> axis_taps(int64_t in, int64_t out, ResizeCoord coord) {
  std::vector<Tap> taps(out);
  const double ratio = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t d = 0; d < out; ++d) {
    double src = 0.0;
    switch (coord) {
      case ResizeCoord::HalfPixel:
        // Clamped below at 0 like TF2 and PyTorch: the first output rows copy the edge.
        src = std::max(0.0, (static_cast<double>(d) + 0.5) * ratio - 0.5);
        break;
      case ResizeCoord::AlignCorners:
        src = out == 1 ? 0.0 : static_cast<double>(d) * static_cast<double>(in - 1) / static_cast<double>(out - 1);
        break;
      case ResizeCoord::Asymmetric:
        src = static_cast<double>(d) * ratio;
        break;
    }
    Tap& t = taps[d];
    t.i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
    t.i1 = std::min(t.i0 + 1, in - 1);
    // Past the last source index both taps are the edge; the weight no longer matters.
    t.w1 = t.i1 == t.i0 ? 0.f : static_cast<float>(src - static_cast<double>(t.i0));
  }
  return taps;
}

struct ResizeShape {
  int64_t n, ih, iw, oh, ow, c;
  std::vector<Tap> th, tw;
};

ResizeShape resize_shape(const OpCall& call, const Shape& x) {
  const auto& a = call.get<ResizeAttrs>();
  ResizeShape s{x[0], x[1], x[2], a.out_h, a.out_w, x[3], {}, {}};
  s.th = axis_taps(s.ih, s.oh, a.coord);
  s.tw = axis_taps(s.iw, s.ow, a.coord);
  return s;
}

}  // namespace

void resize_bilinear_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const ResizeShape s = resize_shape(call, in[0]->shape());
  const float* x = in[0]->data();
  float* y = out.data();
  const int64_t C = s.c;
  const int64_t row_work = std::max<int64_t>(1, s.ow * C * 4);
  parallel_for(0, s.n * s.oh, std::max<int64_t>(1, 16384 / row_work), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t n = r / s.oh;
      const Tap& th = s.th[r % s.oh];
      const float* row0 = x + (n * s.ih + th.i0) * s.iw * C;
      const float* row1 = x + (n * s.ih + th.i1) * s.iw * C;
      const float h1 = th.w1, h0 = 1.f - th.w1;
      float* yr = y + r * s.ow * C;
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const Tap& tw = s.tw[ow];
        const float w1 = tw.w1, w0 = 1.f - tw.w1;
        const float *a = row0 + tw.i0 * C, *b1 = row0 + tw.i1 * C;
        const float *c0 = row1 + tw.i0 * C, *d = row1 + tw.i1 * C;
        float* yp = yr + ow * C;
        for (int64_t c = 0; c < C; ++c) yp[c] = h0 * (w0 * a[c] + w1 * b1[c]) + h1 * (w0 * c0[c] + w1 * d[c]);
      }
    }
  });
}

// Scatter of dy with the forward weights. Tasks own (image, channel block)
// pairs, which are disjoint in dx, so the scatter needs no atomics.
void resize_bilinear_backward(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const ResizeShape s = resize_shape(call, din[0]->shape());
  const float* gy = dy.data();
  float* dx = din[0]->data();
  const int64_t C = s.c;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t task_work = std::max<int64_t>(1, (s.oh * s.ow * 4 + s.ih * s.iw) * std::min(C, kChannelBlock));
  parallel_for(0, s.n * blocks, std::max<int64_t>(1, 16384 / task_work), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock, c1 = std::min(C, c0 + kChannelBlock);
      float* dxn = dx + n * s.ih * s.iw * C;
      for (int64_t p = 0; p < s.ih * s.iw; ++p) std::fill(dxn + p * C + c0, dxn + p * C + c1, 0.f);
      for (int64_t oh = 0; oh < s.oh; ++oh) {
        const Tap& th = s.th[oh];
        float* row0 = dxn + th.i0 * s.iw * C;
        float* row1 = dxn + th.i1 * s.iw * C;
        const float h1 = th.w1, h0 = 1.f - th.w1;
        const float* gr = gy + (n * s.oh + oh) * s.ow * C;
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          const Tap& tw = s.tw[ow];
          const float w1 = tw.w1, w0 = 1.f - tw.w1;
          const float* gp = gr + ow * C;
          // Sequential adds: the four taps may alias when indices clamp to an edge.
          for (int64_t c = c0; c < c1; ++c) row0[tw.i0 * C + c] += h0 * w0 * gp[c];
          for (int64_t c = c0; c < c1; ++c) row0[tw.i1 * C + c] += h0 * w1 * gp[c];
          for (int64_t c = c0; c < c1; ++c) row1[tw.i0 * C + c] += h1 * w0 * gp[c];
          for (int64_t c = c0; c < c1; ++c) row1[tw.i1 * C + c] += h1 * w1 * gp[c];
        }
      }
    }
  });
}

}  // namespace ec::cpu
