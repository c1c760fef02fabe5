// conv2d: hand-computed cases (stride with asymmetric padding, dilation,
// SAME upper/lower, groups, depthwise, bias, and one backward), a naive
// double-precision direct convolution checked against finite differences,
// then the kernels against that reference over a grid of shapes (strides,
// dilations, padding modes, groups 1/2/depthwise/depthwise-multiplier,
// 1x1 fast path, several row chunks). Outputs and gradients start as NaN so
// any element a kernel forgets to write fails the comparison.
#include <cmath>
#include <random>
#include <vector>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "cpu/threadpool.h"
#include "../test.h"

namespace {

using ec::Shape;
using ec::Tensor;
using ec::Window2d;

Window2d win(int sh, int sw, int dh, int dw, int pt, int pb, int pl, int pr,
             ec::PadMode mode = ec::PadMode::Explicit) {
  Window2d w;
  w.stride_h = sh, w.stride_w = sw, w.dilation_h = dh, w.dilation_w = dw;
  w.pad_top = pt, w.pad_bottom = pb, w.pad_left = pl, w.pad_right = pr;
  w.pad_mode = mode;
  return w;
}

ec::OpCall conv_call(const Window2d& w, int groups = 1) {
  return ec::OpCall{ec::Op::Conv2d, ec::Conv2dAttrs{w, groups}};
}

Tensor forward(const ec::OpCall& call, const Tensor& x, const Tensor& w, const Tensor* b = nullptr) {
  ec::Inputs in{&x, &w};
  if (b) in.push_back(b);
  std::vector<Shape> shapes;
  for (const Tensor* t : in) shapes.push_back(t->shape());
  Tensor y(ec::infer_shape(call, shapes));
  y.fill(NAN);
  ec::cpu::conv2d_forward(call, in, y);
  return y;
}

struct Grads {
  Tensor dx, dw, db;
};

// Gradients for the inputs flagged in `want` (dx, dw, db); the rest are passed as null.
Grads backward(const ec::OpCall& call, const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& dy,
               const bool want[3] = nullptr) {
  Grads g{Tensor(x.shape()), Tensor(w.shape()), Tensor(Shape{w.dim(3)})};
  g.dx.fill(NAN), g.dw.fill(NAN), g.db.fill(NAN);
  ec::Inputs in{&x, &w};
  if (b) in.push_back(b);
  ec::Grads din{(!want || want[0]) ? &g.dx : nullptr, (!want || want[1]) ? &g.dw : nullptr};
  if (b) din.push_back((!want || want[2]) ? &g.db : nullptr);
  ec::cpu::conv2d_backward(call, in, Tensor(), dy, din);
  return g;
}

void expect_values(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) {
  CHECK(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) CHECK_NEAR(t.data()[i], want[i], tol);
}

// ---- naive double-precision reference ----

struct Ref {
  int64_t N, H, W, C, KH, KW, Cg, Cout, Og, OH, OW;
  ec::Geometry2d g;
};

Ref make_ref(const ec::OpCall& call, const Shape& x, const Shape& w) {
  Window2d wn = call.get<ec::Conv2dAttrs>().win;
  wn.kernel_h = static_cast<int>(w[0]), wn.kernel_w = static_cast<int>(w[1]);
  const ec::Geometry2d g = ec::resolve_window("conv2d", wn, x[1], x[2], false);
  const int64_t groups = call.get<ec::Conv2dAttrs>().groups;
  return {x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], w[3] / groups, g.out_h, g.out_w, g};
}

// Visits every (output element, tap, input channel) product of the convolution.
template <class F>
void for_each_product(const Ref& r, F f) {
  for (int64_t n = 0; n < r.N; ++n)
    for (int64_t oh = 0; oh < r.OH; ++oh)
      for (int64_t ow = 0; ow < r.OW; ++ow)
        for (int64_t o = 0; o < r.Cout; ++o)
          for (int64_t kh = 0; kh < r.KH; ++kh)
            for (int64_t kw = 0; kw < r.KW; ++kw) {
              const int64_t ih = oh * r.g.stride_h - r.g.pad_top + kh * r.g.dilation_h;
              const int64_t iw = ow * r.g.stride_w - r.g.pad_left + kw * r.g.dilation_w;
              if (ih < 0 || ih >= r.H || iw < 0 || iw >= r.W) continue;
              for (int64_t c = 0; c < r.Cg; ++c) {
                const int64_t xi = ((n * r.H + ih) * r.W + iw) * r.C + (o / r.Og) * r.Cg + c;
                const int64_t wi = ((kh * r.KW + kw) * r.Cg + c) * r.Cout + o;
                const int64_t yi = ((n * r.OH + oh) * r.OW + ow) * r.Cout + o;
                f(xi, wi, yi);
              }
            }
}

std::vector<double> ref_forward(const Ref& r, const std::vector<double>& x, const std::vector<double>& w,
                                const std::vector<double>* b) {
  std::vector<double> y(r.N * r.OH * r.OW * r.Cout, 0.0);
  if (b)
    for (size_t i = 0; i < y.size(); ++i) y[i] = (*b)[i % r.Cout];
  for_each_product(r, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += x[xi] * w[wi]; });
  return y;
}

void ref_backward(const Ref& r, const std::vector<double>& x, const std::vector<double>& w,
                  const std::vector<double>& dy, std::vector<double>& dx, std::vector<double>& dw,
                  std::vector<double>& db) {
  dx.assign(x.size(), 0.0), dw.assign(w.size(), 0.0), db.assign(r.Cout, 0.0);
  for_each_product(r, [&](int64_t xi, int64_t wi, int64_t yi) {
    dx[xi] += w[wi] * dy[yi];
    dw[wi] += x[xi] * dy[yi];
  });
  for (size_t i = 0; i < dy.size(); ++i) db[i % r.Cout] += dy[i];
}

std::vector<double> to_double(const Tensor& t) { return std::vector<double>(t.data(), t.data() + t.numel()); }

Tensor random_tensor(Shape s, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
  return t;
}

void expect_close(const char* what, const Tensor& got, const std::vector<double>& want, double tol, const char* ctx) {
  CHECK(got.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got.data()[i] - want[i]) <= tol))
      EC_FAIL(ctx << ": " << what << "[" << i << "] = " << got.data()[i] << ", expected " << want[i]);
}

// Forward and all three gradients of one configuration against the reference.
void check_against_ref(const ec::OpCall& call, Shape xs, Shape ws, std::mt19937& rng, const char* ctx) {
  const Tensor x = random_tensor(xs, rng), w = random_tensor(ws, rng), b = random_tensor({ws[3]}, rng);
  const Ref r = make_ref(call, xs, ws);
  const std::vector<double> bd = to_double(b);
  const Tensor y = forward(call, x, w, &b);
  const std::vector<double> yr = ref_forward(r, to_double(x), to_double(w), &bd);
  const double terms = static_cast<double>(r.KH * r.KW * std::max<int64_t>(r.Cg, r.Og) + r.N * r.OH * r.OW);
  const double tol = 2e-6 * terms + 1e-5;
  expect_close("y", y, yr, tol, ctx);
  expect_close("y (no bias)", forward(call, x, w), ref_forward(r, to_double(x), to_double(w), nullptr), tol, ctx);

  const Tensor dy = random_tensor(y.shape(), rng);
  std::vector<double> dx, dw, db;
  ref_backward(r, to_double(x), to_double(w), to_double(dy), dx, dw, db);
  const Grads g = backward(call, x, w, &b, dy);
  expect_close("dx", g.dx, dx, tol, ctx);
  expect_close("dw", g.dw, dw, tol, ctx);
  expect_close("db", g.db, db, tol, ctx);
}

}  // namespace

TEST(conv2d_hand_stride2_asymmetric_pad) {
  // x = 1..9 (3x3), w = [[1,2],[3,4]], stride 2, pad top 1 / right 1:
  // padded rows: [0 0 0 0], [1 2 3 0], [4 5 6 0], [7 8 9 0].
  const auto call = conv_call(win(2, 2, 1, 1, 1, 0, 0, 1));
  const Tensor x = Tensor::from({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = Tensor::from({2, 2, 1, 1}, {1, 2, 3, 4});
  const Tensor y = forward(call, x, w);
  CHECK(y.shape() == (Shape{1, 2, 2, 1}));
  expect_values(y, {11, 9, 67, 33});
  // dy = 1: every input pixel is covered by exactly one tap; dw sums the taps' pixels.
  const Tensor b = Tensor::from({1}, {0.f});
  const Grads g = backward(call, x, w, &b, Tensor::from({1, 2, 2, 1}, {1, 1, 1, 1}));
  expect_values(g.dx, {3, 4, 3, 1, 2, 1, 3, 4, 3});
  expect_values(g.dw, {10, 5, 20, 10});
  expect_values(g.db, {4});
}

TEST(conv2d_hand_dilation) {
  // x = 1..16 (4x4), w = [[1,2],[3,4]] dilated by 2: y = x[i][j] + 2x[i][j+2] + 3x[i+2][j] + 4x[i+2][j+2].
  std::vector<float> xv(16);
  for (int i = 0; i < 16; ++i) xv[i] = static_cast<float>(i + 1);
  const Tensor y = forward(conv_call(win(1, 1, 2, 2, 0, 0, 0, 0)), Tensor::from({1, 4, 4, 1}, xv),
                           Tensor::from({2, 2, 1, 1}, {1, 2, 3, 4}));
  CHECK(y.shape() == (Shape{1, 2, 2, 1}));
  expect_values(y, {78, 88, 118, 128});
}

TEST(conv2d_hand_same_upper_and_lower) {
  // 3x3 input, 2x2 ones filter, stride 1: SAME pads one pixel, after (upper) or before (lower).
  const Tensor x = Tensor::from({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = Tensor::from({2, 2, 1, 1}, {1, 1, 1, 1});
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0, ec::PadMode::SameUpper)), x, w),
                {12, 16, 9, 24, 28, 15, 15, 17, 9});
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0, ec::PadMode::SameLower)), x, w),
                {1, 3, 5, 5, 12, 16, 11, 24, 28});
  // VALID ignores the explicit pads.
  const Tensor v = forward(conv_call(win(1, 1, 1, 1, 5, 5, 5, 5, ec::PadMode::Valid)), x, w);
  CHECK(v.shape() == (Shape{1, 2, 2, 1}));
  expect_values(v, {12, 16, 24, 28});
}

TEST(conv2d_hand_groups) {
  // Two pixels [1,2,3,4] and [5,6,7,8], a 1x2 filter, groups 2 (channels 0-1 -> outputs 0-1, 2-3 -> 2-3).
  const Tensor x = Tensor::from({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = Tensor::from({1, 2, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8,  // kw 0: c0, c1
                                               -1, 0, 1, 2, 0.5f, 0.5f, 0.5f, 0.5f});  // kw 1
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0), 2), x, w), {9, 17, 48, 62});
  // The same filter's first tap as a 1x1 grouped conv (the pointwise path).
  const Tensor w1 = Tensor::from({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0), 2), Tensor::from({1, 1, 1, 4}, {1, 2, 3, 4}), w1),
                {11, 14, 37, 44});
}

TEST(conv2d_hand_depthwise) {
  // Pixels (c0, c1): (1,10) (2,20) (3,30) (4,40); c0 filter all ones, c1 filter [1,0,0,-1].
  const Tensor x = Tensor::from({1, 2, 2, 2}, {1, 10, 2, 20, 3, 30, 4, 40});
  const Tensor w = Tensor::from({2, 2, 1, 2}, {1, 1, 1, 0, 1, 0, 1, -1});
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0), 2), x, w), {10, -30});
}

TEST(conv2d_hand_bias) {
  // 1x1 filter [2, -1] with bias [0.5, 10].
  const Tensor x = Tensor::from({1, 2, 2, 1}, {1, 2, 3, 4});
  const Tensor b = Tensor::from({2}, {0.5f, 10});
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0)), x, Tensor::from({1, 1, 1, 2}, {2, -1}), &b),
                {2.5f, 9, 4.5f, 8, 6.5f, 7, 8.5f, 6});
  // 3x3 ones filter, SAME: every window covers the whole 2x2 image, so each output is 10 + bias.
  const Tensor b1 = Tensor::from({1}, {1});
  std::vector<float> ones(9, 1.f);
  expect_values(forward(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0, ec::PadMode::SameUpper)), x,
                        Tensor::from({3, 3, 1, 1}, ones), &b1),
                {11, 11, 11, 11});
}

TEST(conv2d_reference_matches_finite_differences) {
  // The loss sum(y * r) is linear in each of x, w, b, so central differences are exact up to rounding.
  std::mt19937 rng(11);
  const auto call = conv_call(win(2, 1, 1, 2, 1, 0, 2, 1), 2);
  const Shape xs{2, 5, 4, 4}, ws{2, 2, 2, 6};
  const Ref r = make_ref(call, xs, ws);
  std::vector<double> x = to_double(random_tensor(xs, rng)), w = to_double(random_tensor(ws, rng)),
                      b = to_double(random_tensor({6}, rng));
  const std::vector<double> dy = to_double(random_tensor({2, r.OH, r.OW, 6}, rng));
  auto loss = [&]() {
    const std::vector<double> y = ref_forward(r, x, w, &b);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * dy[i];
    return s;
  };
  std::vector<double> dx, dw, db;
  ref_backward(r, x, w, dy, dx, dw, db);
  for (auto [v, g] : {std::pair{&x, &dx}, std::pair{&w, &dw}, std::pair{&b, &db}})
    for (size_t i = 0; i < v->size(); ++i) {
      const double keep = (*v)[i];
      (*v)[i] = keep + 0.5;
      const double up = loss();
      (*v)[i] = keep - 0.5;
      const double down = loss();
      (*v)[i] = keep;
      CHECK_NEAR((up - down) / 1.0, (*g)[i], 1e-9);
    }
}

TEST(conv2d_grid_against_reference) {
  std::mt19937 rng(12);
  struct Pad { int t, b, l, r; ec::PadMode mode; };
  const Pad pads[] = {{1, 0, 2, 1, ec::PadMode::Explicit}, {0, 0, 0, 0, ec::PadMode::Valid},
                      {0, 0, 0, 0, ec::PadMode::SameUpper}, {0, 0, 0, 0, ec::PadMode::SameLower}};
  struct Chan { int groups, cin, cout; };
  const Chan chans[] = {{1, 3, 5}, {2, 4, 6}, {6, 6, 6}, {3, 3, 6}};  // plain, grouped, depthwise, depthwise x2
  const int kernels[][2] = {{3, 3}, {1, 1}, {2, 3}};
  const int strides[][2] = {{1, 1}, {2, 2}, {2, 1}};
  int n = 0;
  for (const auto& k : kernels)
    for (const auto& s : strides)
      for (int d : {1, 2})
        for (const Pad& p : pads)
          for (const Chan& ch : chans) {
            const auto call = conv_call(win(s[0], s[1], d, d, p.t, p.b, p.l, p.r, p.mode), ch.groups);
            const int64_t batch = (n++ % 2) + 1;
            char ctx[160];
            std::snprintf(ctx, sizeof ctx, "k%dx%d s%d,%d d%d pad%d g%d cin%d cout%d n%d", k[0], k[1], s[0], s[1],
                          d, static_cast<int>(p.mode), ch.groups, ch.cin, ch.cout, static_cast<int>(batch));
            check_against_ref(call, {batch, 7, 6, ch.cin}, {k[0], k[1], ch.cin / ch.groups, ch.cout}, rng, ctx);
          }
}

TEST(conv2d_many_row_chunks) {
  // 3x3x512 patches are 4608 floats, so 1023 output pixels span more than one im2col chunk.
  std::mt19937 rng(13);
  check_against_ref(conv_call(win(1, 1, 1, 1, 1, 1, 1, 1)), {1, 31, 33, 512}, {3, 3, 512, 4}, rng, "chunks g1");
  check_against_ref(conv_call(win(1, 1, 1, 1, 1, 1, 1, 1), 2), {1, 31, 33, 512}, {3, 3, 256, 4}, rng, "chunks g2");
}

TEST(conv2d_concurrent_chunks) {
  // With 2 threads, >= 8 chunks run concurrently: per-task partial filters for
  // dW and the even/odd chunk phases of col2im. Chunks here are a few output
  // lines each (wide rows of deep patches), the minimum the dilated/strided
  // window allows, so neighbouring chunks do share input rows.
  std::mt19937 rng(15);
  const int saved = ec::cpu::num_threads();
  ec::cpu::set_num_threads(2);
  check_against_ref(conv_call(win(1, 1, 2, 2, 2, 2, 2, 2)), {1, 48, 300, 256}, {3, 3, 256, 2}, rng, "dilated");
  check_against_ref(conv_call(win(2, 2, 1, 1, 1, 1, 1, 1)), {1, 80, 300, 256}, {3, 3, 256, 2}, rng, "strided");
  ec::cpu::set_num_threads(saved);
}

TEST(conv2d_depthwise_channel_blocks_and_borders) {
  // The direct depthwise kernel: channel counts hitting the full-vector,
  // half-vector and scalar tails; interior vs border columns under strides,
  // dilation and asymmetric pads; images narrower than the window; and a
  // layer big enough to split across threads.
  std::mt19937 rng(16);
  const int saved = ec::cpu::num_threads();
  ec::cpu::set_num_threads(2);
  for (int c : {1, 5, 8, 13, 16, 24, 40}) {
    char ctx[64];
    std::snprintf(ctx, sizeof ctx, "dw c%d s1", c);
    check_against_ref(conv_call(win(1, 1, 1, 1, 1, 1, 1, 1), c), {1, 9, 11, c}, {3, 3, 1, c}, rng, ctx);
    std::snprintf(ctx, sizeof ctx, "dw c%d s2 asym", c);
    check_against_ref(conv_call(win(2, 2, 1, 1, 0, 1, 0, 1), c), {2, 10, 9, c}, {3, 3, 1, c}, rng, ctx);
    std::snprintf(ctx, sizeof ctx, "dw c%d d2 k5x2", c);
    check_against_ref(conv_call(win(1, 2, 2, 2, 3, 1, 2, 2), c), {1, 8, 7, c}, {5, 2, 1, c}, rng, ctx);
    std::snprintf(ctx, sizeof ctx, "dw c%d narrow", c);
    check_against_ref(conv_call(win(1, 1, 1, 1, 2, 2, 2, 2), c), {1, 2, 1, c}, {3, 3, 1, c}, rng, ctx);
  }
  check_against_ref(conv_call(win(1, 1, 1, 1, 1, 1, 1, 1), 32), {1, 64, 64, 32}, {3, 3, 1, 32}, rng, "dw big");
  ec::cpu::set_num_threads(saved);
}

TEST(conv2d_pointwise_small_cout) {
  // The direct 1x1 kernel: each tile shape (Cout 4..64), row counts that
  // leave a tail, and a layer big enough to split across threads; Cout 40 and
  // 72 take the GEMM.
  std::mt19937 rng(17);
  const int saved = ec::cpu::num_threads();
  ec::cpu::set_num_threads(2);
  for (int cout : {4, 8, 12, 16, 24, 32, 40, 48, 64, 72})
    for (int cin : {3, 16}) {
      char ctx[64];
      std::snprintf(ctx, sizeof ctx, "1x1 cin%d cout%d", cin, cout);
      check_against_ref(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0)), {1, 5, 7, cin}, {1, 1, cin, cout}, rng, ctx);
    }
  check_against_ref(conv_call(win(1, 1, 1, 1, 0, 0, 0, 0)), {1, 70, 70, 32}, {1, 1, 32, 32}, rng, "1x1 big");
  ec::cpu::set_num_threads(saved);
}

TEST(conv2d_backward_only_requested_grads) {
  std::mt19937 rng(14);
  for (int groups : {1, 4}) {  // im2col path and depthwise path
    const auto call = conv_call(win(2, 2, 1, 1, 1, 1, 1, 1), groups);
    const Tensor x = random_tensor({1, 6, 6, 4}, rng), w = random_tensor({3, 3, 4 / groups, 4}, rng);
    const Tensor b = random_tensor({4}, rng);
    const Tensor dy = random_tensor(forward(call, x, w, &b).shape(), rng);
    const Grads all = backward(call, x, w, &b, dy);
    for (int which = 0; which < 3; ++which) {
      const bool want[3] = {which == 0, which == 1, which == 2};
      const Grads one = backward(call, x, w, &b, dy, want);
      const Tensor& got = which == 0 ? one.dx : which == 1 ? one.dw : one.db;
      const Tensor& ref = which == 0 ? all.dx : which == 1 ? all.dw : all.db;
      expect_close("requested grad", got, to_double(ref), 1e-5, "subset");
      const Tensor& skipped = which == 0 ? one.dw : one.dx;
      CHECK(std::isnan(skipped.data()[0]));  // a null din is never written
    }
  }
}

TEST(conv2d_empty_batch) {
  const auto call = conv_call(win(1, 1, 1, 1, 1, 1, 1, 1));
  const Tensor x({0, 4, 4, 2}), w = Tensor::from({3, 3, 2, 1}, std::vector<float>(18, 1.f));
  const Tensor b = Tensor::from({1}, {0.f});
  CHECK(forward(call, x, w, &b).numel() == 0);
  const Grads g = backward(call, x, w, &b, Tensor({0, 4, 4, 1}));
  expect_values(g.dw, std::vector<float>(18, 0.f));
  expect_values(g.db, {0});
}

TEST(conv2d_small_cin_direct_kernel) {
  // The direct kernel for 1..4 input channels and 8/16/32/64 outputs (a
  // network's first conv): interior blocks of pixels and border pixels under
  // strides, dilation and asymmetric pads, images narrower than a block, a
  // batch of two, and a layer big enough to split over threads; then its
  // fused relu and clip against the plain output with the activation applied.
  std::mt19937 rng(18);
  const int saved = ec::cpu::num_threads();
  ec::cpu::set_num_threads(2);
  for (int cin : {1, 3, 4})
    for (int cout : {8, 16, 32, 64}) {
      char ctx[80];
      std::snprintf(ctx, sizeof ctx, "small cin%d cout%d s1", cin, cout);
      check_against_ref(conv_call(win(1, 1, 1, 1, 1, 1, 1, 1)), {2, 9, 21, cin}, {3, 3, cin, cout}, rng, ctx);
      std::snprintf(ctx, sizeof ctx, "small cin%d cout%d s2 asym", cin, cout);
      check_against_ref(conv_call(win(2, 2, 1, 1, 0, 1, 0, 1)), {1, 12, 19, cin}, {3, 3, cin, cout}, rng, ctx);
      std::snprintf(ctx, sizeof ctx, "small cin%d cout%d d2 k2x5", cin, cout);
      check_against_ref(conv_call(win(1, 2, 2, 2, 2, 1, 3, 2)), {1, 8, 30, cin}, {2, 5, cin, cout}, rng, ctx);
      std::snprintf(ctx, sizeof ctx, "small cin%d cout%d narrow", cin, cout);
      check_against_ref(conv_call(win(1, 1, 1, 1, 2, 2, 2, 2)), {1, 3, 2, cin}, {3, 3, cin, cout}, rng, ctx);
    }
  check_against_ref(conv_call(win(2, 2, 1, 1, 0, 1, 0, 1)), {1, 96, 96, 3}, {3, 3, 3, 8}, rng, "small big");
  // Fused activations.
  for (int cout : {8, 64}) {
    const auto call = conv_call(win(2, 2, 1, 1, 0, 1, 0, 1));
    const Tensor x = random_tensor({1, 40, 37, 3}, rng), w = random_tensor({3, 3, 3, cout}, rng),
                 b = random_tensor({cout}, rng);
    const Tensor plain = forward(call, x, w, &b);
    for (int k = 0; k < 2; ++k) {
      ec::Epilogue ep;
      ep.kind = k ? ec::Epilogue::Kind::Clip : ec::Epilogue::Kind::Relu;
      ep.lo = 0.f, ep.hi = 0.5f;
      Tensor y(plain.shape());
      y.fill(NAN);
      ec::cpu::conv2d_forward(call, {&x, &w, &b}, y, ep);
      for (int64_t i = 0; i < y.numel(); ++i) {
        const float v = plain.data()[i], want = k ? std::min(std::max(v, 0.f), 0.5f) : std::max(v, 0.f);
        if (!(y.data()[i] == want)) EC_FAIL("small cin epilogue " << k << " cout " << cout << " [" << i << "] = " << y.data()[i] << ", expected " << want);
      }
    }
  }
  ec::cpu::set_num_threads(saved);
}
