// Winograd F(4x4, 3x3) against the direct computation.
//
// Small shapes (odd sizes that leave partial tiles, paddings 0/1/2 and
// asymmetric, batch 2, channel counts off the vector widths, bias and ReLU)
// against a double-precision direct convolution, forward and backward to the
// input, for every schedule; then every 3x3 layer shape of VGG16 at 224 px
// against the im2col + GEMM path, forward and backward to the input, with
// the largest relative error printed (max |a - b| / max |b|).
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "../test.h"

namespace {

using ec::Shape;
using ec::Tensor;

ec::OpCall conv3(int pt, int pb, int pl, int pr) {
  ec::Window2d w;
  w.pad_top = pt, w.pad_bottom = pb, w.pad_left = pl, w.pad_right = pr;
  w.pad_mode = ec::PadMode::Explicit;
  return ec::OpCall{ec::Op::Conv2d, ec::Conv2dAttrs{w, 1}};
}

Tensor random(Shape s, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(rng);
  return t;
}

// Runs with algorithm `algo` (see set_conv_algo); restores the measured default.
Tensor fwd(int algo, const ec::OpCall& call, const Tensor& x, const Tensor& w, const Tensor* b, bool relu) {
  ec::cpu::set_conv_algo(algo);
  ec::Inputs in{&x, &w};
  if (b) in.push_back(b);
  Tensor y(ec::infer_shape(call, {x.shape(), w.shape()}));
  y.fill(NAN);
  ec::Epilogue ep;
  if (relu) ep.kind = ec::Epilogue::Kind::Relu;
  ec::cpu::conv2d_forward(call, in, y, ep);
  ec::cpu::set_conv_algo(-1);
  return y;
}

Tensor bwd(int algo, const ec::OpCall& call, const Tensor& x, const Tensor& w, const Tensor& dy) {
  ec::cpu::set_conv_algo(algo);
  Tensor dx(x.shape());
  dx.fill(NAN);
  ec::Inputs in{&x, &w};
  ec::Grads din{&dx, nullptr};
  ec::cpu::conv2d_backward(call, in, Tensor(), dy, din);
  ec::cpu::set_conv_algo(-1);
  return dx;
}

// Direct conv in double: y[n,oh,ow,k] = b[k] + sum x[n, oh-pt+kh, ow-pl+kw, c] w[kh,kw,c,k].
std::vector<double> direct(const Tensor& x, const Tensor& w, const Tensor* b, int pt, int pl, int64_t OH, int64_t OW) {
  const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), K = w.dim(3);
  std::vector<double> y(N * OH * OW * K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow)
        for (int64_t k = 0; k < K; ++k) {
          double s = b ? b->data()[k] : 0.0;
          for (int kh = 0; kh < 3; ++kh)
            for (int kw = 0; kw < 3; ++kw) {
              const int64_t ih = oh - pt + kh, iw = ow - pl + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              for (int64_t c = 0; c < C; ++c)
                s += double(x.data()[((n * H + ih) * W + iw) * C + c]) * w.data()[((kh * 3 + kw) * C + c) * K + k];
            }
          y[((n * OH + oh) * OW + ow) * K + k] = s;
        }
  return y;
}

// dx[n,ih,iw,c] = sum over (kh,kw,k) with oh = ih+pt-kh, ow = iw+pl-kw in range of dy * w.
std::vector<double> direct_dx(const Tensor& dy, const Tensor& w, int pt, int pl, const Shape& xs) {
  const int64_t N = xs[0], H = xs[1], W = xs[2], C = xs[3], OH = dy.dim(1), OW = dy.dim(2), K = dy.dim(3);
  std::vector<double> dx(N * H * W * C, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ih = 0; ih < H; ++ih)
      for (int64_t iw = 0; iw < W; ++iw)
        for (int64_t c = 0; c < C; ++c) {
          double s = 0;
          for (int kh = 0; kh < 3; ++kh)
            for (int kw = 0; kw < 3; ++kw) {
              const int64_t oh = ih + pt - kh, ow = iw + pl - kw;
              if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
              for (int64_t k = 0; k < K; ++k)
                s += double(dy.data()[((n * OH + oh) * OW + ow) * K + k]) * w.data()[((kh * 3 + kw) * C + c) * K + k];
            }
          dx[((n * H + ih) * W + iw) * C + c] = s;
        }
  return dx;
}

template <class Ref>
double rel_err(const Tensor& got, const Ref& want) {
  double diff = 0, mag = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.data()[i], r = want[i];
    if (!(std::fabs(g - r) <= diff)) diff = std::isnan(g) ? INFINITY : std::fabs(g - r);
    mag = std::max(mag, std::fabs(r));
  }
  return diff / std::max(mag, 1e-30);
}

struct Ref {
  const Tensor& t;
  double operator[](int64_t i) const { return t.data()[i]; }
};

}  // namespace

TEST(winograd_small_shapes_match_direct) {
  struct Case {
    int64_t n, h, w, c, k;
    int pt, pb, pl, pr;
  };
  const Case cases[] = {{1, 4, 4, 1, 1, 1, 1, 1, 1},   {2, 7, 9, 3, 5, 1, 1, 1, 1},   {1, 13, 5, 17, 20, 0, 0, 0, 0},
                        {1, 8, 8, 16, 32, 2, 2, 2, 2}, {2, 11, 6, 20, 33, 0, 2, 1, 0}, {1, 9, 10, 64, 48, 1, 1, 1, 1}};
  for (const Case& k : cases) {
    const ec::OpCall call = conv3(k.pt, k.pb, k.pl, k.pr);
    const Tensor x = random({k.n, k.h, k.w, k.c}, 1.f, 1), w = random({3, 3, k.c, k.k}, 0.3f, 2);
    const Tensor b = random({k.k}, 0.5f, 3);
    const int64_t OH = k.h + k.pt + k.pb - 2, OW = k.w + k.pl + k.pr - 2;
    const std::vector<double> y = direct(x, w, &b, k.pt, k.pl, OH, OW);
    const Tensor dy = random({k.n, OH, OW, k.k}, 1.f, 4);
    const std::vector<double> dx = direct_dx(dy, w, k.pt, k.pl, x.shape());
    for (int algo = 1; algo <= 3; ++algo) {
      const double ef = rel_err(fwd(algo, call, x, w, &b, false), y);
      const double eb = rel_err(bwd(algo, call, x, w, dy), dx);
      if (!(ef < 1e-5 && eb < 1e-5))
        EC_FAIL("shape " << k.n << "x" << k.h << "x" << k.w << "x" << k.c << "->" << k.k << " pads " << k.pt << k.pb
                         << k.pl << k.pr << " algo " << algo << ": forward error " << ef << ", backward " << eb);
    }
    // The fused ReLU: exactly max(0, y) of the unfused result.
    for (int algo = 2; algo <= 3; ++algo) {
      const Tensor plain = fwd(algo, call, x, w, &b, false), relu = fwd(algo, call, x, w, &b, true);
      for (int64_t i = 0; i < plain.numel(); ++i) CHECK(relu.data()[i] == (plain.data()[i] > 0.f ? plain.data()[i] : 0.f));
    }
  }
}

TEST(winograd_vgg16_layers_match_im2col) {
  struct Layer {
    int64_t hw, c, k;
  };
  const Layer layers[] = {{224, 3, 64},   {224, 64, 64},  {112, 64, 128}, {112, 128, 128}, {56, 128, 256},
                          {56, 256, 256}, {28, 256, 512}, {28, 512, 512}, {14, 512, 512}};
  const ec::OpCall call = conv3(1, 1, 1, 1);
  double worst_f = 0, worst_b = 0;
  for (const Layer& l : layers) {
    // Activations as after a ReLU, He-scaled weights: outputs of order 1.
    Tensor x = random({1, l.hw, l.hw, l.c}, 1.f, 5);
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::fabs(x.data()[i]);
    const Tensor w = random({3, 3, l.c, l.k}, std::sqrt(6.f / (9 * l.c)), 6), b = random({l.k}, 0.1f, 7);
    const Tensor dy = random({1, l.hw, l.hw, l.k}, 1.f, 8);
    const Tensor y0 = fwd(0, call, x, w, &b, false), dx0 = bwd(0, call, x, w, dy);
    for (int algo = 1; algo <= 3; ++algo) {
      const double ef = rel_err(fwd(algo, call, x, w, &b, false), Ref{y0});
      const double eb = rel_err(bwd(algo, call, x, w, dy), Ref{dx0});
      std::printf("  vgg16 %3lldpx %3lld->%3lld winograd(%s): forward max rel err %.2e, backward-to-input %.2e\n",
                  (long long)l.hw, (long long)l.c, (long long)l.k, algo == 1 ? "small" : algo == 2 ? "large" : "whole", ef, eb);
      worst_f = std::max(worst_f, ef), worst_b = std::max(worst_b, eb);
    }
    // The measured choice agrees too.
    CHECK(rel_err(fwd(-1, call, x, w, &b, false), Ref{y0}) < 2e-5);
  }
  std::printf("  worst: forward %.2e, backward-to-input %.2e\n", worst_f, worst_b);
  CHECK(worst_f < 2e-5);
  CHECK(worst_b < 5e-5);
}
