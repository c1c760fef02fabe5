// Pooling kernels, NHWC: windowed max/avg pooling and their global forms.
//
// Geometry (output size, SAME padding, ceil mode) comes from resolve_window so
// every backend agrees. Forward passes run over output rows in parallel.
// Backward passes scatter into dx; they run over (image, channel block) tasks,
// which own disjoint cells of dx, so no two threads write the same element.
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

constexpr int64_t kChannelBlock = 64;
// Max over a window with no real cell (only possible when explicit padding is
// at least the kernel span): finite so downstream products stay NaN-free,
// matching ONNX Runtime.
constexpr float kEmptyMax = std::numeric_limits<float>::lowest();

// The taps [lo, hi) of a window starting at `start` (dilation d, k taps) that
// land inside [0, size).
void tap_range(int64_t start, int k, int d, int64_t size, int& lo, int& hi) {
  lo = start < 0 ? static_cast<int>((-start + d - 1) / d) : 0;
  const int64_t last = size - 1 - start;
  hi = last < 0 ? 0 : static_cast<int>(std::min<int64_t>(k, last / d + 1));
  if (hi < lo) hi = lo;
}

struct PoolShape {
  Geometry2d g;
  int64_t n, c;
};

PoolShape pool_shape(const char* who, const OpCall& call, const Shape& x) {
  return {resolve_window(who, call.get<PoolAttrs>().win, x[1], x[2], true), x[0], x[3]};
}

// One output cell's window: its real taps and its start in input coordinates.
struct Window {
  int64_t h0, w0;
  int hl, hh, wl, wh;
};

Window window_at(const Geometry2d& g, int64_t oh, int64_t ow) {
  Window w;
  w.h0 = oh * g.stride_h - g.pad_top;
  w.w0 = ow * g.stride_w - g.pad_left;
  tap_range(w.h0, g.kernel_h, g.dilation_h, g.in_h, w.hl, w.hh);
  tap_range(w.w0, g.kernel_w, g.dilation_w, g.in_w, w.wl, w.wh);
  return w;
}

// Avg-pool divisor. Including padding still clips the window to the padded
// extent: taps past the explicit padding (ceil mode) never count (ONNX/PyTorch).
int64_t avg_count(const Geometry2d& g, const Window& w, bool include_pad) {
  if (!include_pad) return static_cast<int64_t>(w.hh - w.hl) * (w.wh - w.wl);
  int hl, hh, wl, wh;
  tap_range(w.h0 + g.pad_top, g.kernel_h, g.dilation_h, g.in_h + g.pad_top + g.pad_bottom, hl, hh);
  tap_range(w.w0 + g.pad_left, g.kernel_w, g.dilation_w, g.in_w + g.pad_left + g.pad_right, wl, wh);
  return static_cast<int64_t>(hh - hl) * (wh - wl);
}

// Runs fn(n, oh) over every output row in parallel.
template <class Fn>
void for_output_rows(const PoolShape& p, Fn fn) {
  const int64_t row_work = std::max<int64_t>(1, p.g.out_w * p.c * p.g.kernel_h * p.g.kernel_w);
  parallel_for(0, p.n * p.g.out_h, std::max<int64_t>(1, 16384 / row_work), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(r / p.g.out_h, r % p.g.out_h);
  });
}

// Runs fn(n, c0, c1) over images and channel blocks in parallel.
template <class Fn>
void for_image_channels(int64_t n, int64_t c, int64_t work_per_channel, Fn fn) {
  const int64_t blocks = (c + kChannelBlock - 1) / kChannelBlock;
  const int64_t task_work = std::max<int64_t>(1, work_per_channel * std::min(c, kChannelBlock));
  parallel_for(0, n * blocks, std::max<int64_t>(1, 16384 / task_work), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t c0 = (t % blocks) * kChannelBlock;
      fn(t / blocks, c0, std::min(c, c0 + kChannelBlock));
    }
  });
}

// Zeroes channels [c0, c1) of every pixel of image n.
void zero_channels(float* dx, int64_t pixels, int64_t c, int64_t c0, int64_t c1) {
  for (int64_t p = 0; p < pixels; ++p) std::fill(dx + p * c + c0, dx + p * c + c1, 0.f);
}

}  // namespace

void max_pool_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const PoolShape p = pool_shape("max_pool", call, in[0]->shape());
  const Geometry2d& g = p.g;
  const float* x = in[0]->data();
  float* y = out.data();
  const int64_t C = p.c;
  for_output_rows(p, [&](int64_t n, int64_t oh) {
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      const Window w = window_at(g, oh, ow);
      float* yp = y + ((n * g.out_h + oh) * g.out_w + ow) * C;
      bool first = true;
      for (int kh = w.hl; kh < w.hh; ++kh) {
        const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
        for (int kw = w.wl; kw < w.wh; ++kw) {
          const int64_t iw = w.w0 + static_cast<int64_t>(kw) * g.dilation_w;
          const float* xp = x + ((n * g.in_h + ih) * g.in_w + iw) * C;
          if (first) {
            std::copy(xp, xp + C, yp);
            first = false;
            continue;
          }
          for (int64_t c = 0; c < C; ++c) yp[c] = xp[c] > yp[c] ? xp[c] : yp[c];
        }
      }
      if (first) std::fill(yp, yp + C, kEmptyMax);
    }
  });
}

void max_pool_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const PoolShape p = pool_shape("max_pool", call, in[0]->shape());
  const Geometry2d& g = p.g;
  const float* x = in[0]->data();
  const float* gy = dy.data();
  float* dx = din[0]->data();
  const int64_t C = p.c;
  // Routes dy of output cell (n, oh, ow), channels [c0, c1), to its argmax.
  auto route = [&](int64_t n, int64_t oh, int64_t ow, int64_t c0, int64_t c1) {
    float* dxn = dx + n * g.in_h * g.in_w * C;
    float best[kChannelBlock];
    int64_t arg[kChannelBlock];
    const int64_t cb = c1 - c0;
    const Window w = window_at(g, oh, ow);
    if (w.hl == w.hh || w.wl == w.wh) return;  // no real cell, nothing to route
    // Re-derive the argmax; strict '>' keeps the first maximal tap in scan order.
    const int64_t pix0 = (w.h0 + static_cast<int64_t>(w.hl) * g.dilation_h) * g.in_w + w.w0 +
                         static_cast<int64_t>(w.wl) * g.dilation_w;
    std::copy(x + (n * g.in_h * g.in_w + pix0) * C + c0, x + (n * g.in_h * g.in_w + pix0) * C + c1, best);
    std::fill(arg, arg + cb, pix0);
    for (int kh = w.hl; kh < w.hh; ++kh) {
      const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
      for (int kw = w.wl; kw < w.wh; ++kw) {
        const int64_t pix = ih * g.in_w + w.w0 + static_cast<int64_t>(kw) * g.dilation_w;
        const float* xp = x + (n * g.in_h * g.in_w + pix) * C + c0;
        for (int64_t c = 0; c < cb; ++c) {
          const bool take = xp[c] > best[c];
          best[c] = take ? xp[c] : best[c];
          arg[c] = take ? pix : arg[c];
        }
      }
    }
    const float* gp = gy + ((n * g.out_h + oh) * g.out_w + ow) * C + c0;
    for (int64_t c = 0; c < cb; ++c) dxn[arg[c] * C + c0 + c] += gp[c];
  };
  const int64_t span_h = static_cast<int64_t>(g.kernel_h - 1) * g.dilation_h + 1;
  if (g.stride_h >= span_h) {
    // Windows of different output rows never share an input row (VGG's 2x2/2
    // pools): zero dx, then output rows in parallel, all channels each.
    const int64_t total = din[0]->numel();
    parallel_for(0, total, 1 << 16, [&](int64_t a, int64_t b) { std::fill(dx + a, dx + b, 0.f); });
    const int64_t per_row = std::max<int64_t>(1, g.out_w * C * g.kernel_h * g.kernel_w);
    parallel_for(0, p.n * g.out_h, std::max<int64_t>(1, 32768 / per_row), [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r)
        for (int64_t ow = 0; ow < g.out_w; ++ow)
          for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock) route(r / g.out_h, r % g.out_h, ow, c0, std::min(C, c0 + kChannelBlock));
    });
    return;
  }
  const int64_t work = g.out_h * g.out_w * g.kernel_h * g.kernel_w + g.in_h * g.in_w;
  for_image_channels(p.n, C, work, [&](int64_t n, int64_t c0, int64_t c1) {
    zero_channels(dx + n * g.in_h * g.in_w * C, g.in_h * g.in_w, C, c0, c1);
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) route(n, oh, ow, c0, c1);
  });
}

bool max_pool_relu_backward_in_place(const OpCall& call, Tensor& xt, const Tensor& dy) {
  const PoolShape p = pool_shape("max_pool", call, xt.shape());
  const Geometry2d& g = p.g;
  const int64_t span_h = static_cast<int64_t>(g.kernel_h - 1) * g.dilation_h + 1;
  const int64_t span_w = static_cast<int64_t>(g.kernel_w - 1) * g.dilation_w + 1;
  if (g.stride_h < span_h || g.stride_w < span_w) return false;  // windows overlap: a cell is read after written
  float* x = xt.data();
  const float* gy = dy.data();
  const int64_t C = p.c, H = g.in_h, W = g.in_w;
  // Window (oh, ow) covers rows that depend on oh only and columns that
  // depend on ow only: the covered cells are (covered rows) x (covered columns).
  std::vector<char> row_in(H, 0), col_in(W, 0);
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const Window w = window_at(g, oh, 0);
    for (int kh = w.hl; kh < w.hh; ++kh) row_in[w.h0 + static_cast<int64_t>(kh) * g.dilation_h] = 1;
  }
  for (int64_t ow = 0; ow < g.out_w; ++ow) {
    const Window w = window_at(g, 0, ow);
    for (int kw = w.wl; kw < w.wh; ++kw) col_in[w.w0 + static_cast<int64_t>(kw) * g.dilation_w] = 1;
  }
  // Cells no window reads get no gradient.
  parallel_for(0, p.n * H, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, W * C)), [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r)
      for (int64_t iw = 0; iw < W; ++iw)
        if (!row_in[r % H] || !col_in[iw]) std::fill(x + (r * W + iw) * C, x + (r * W + iw + 1) * C, 0.f);
  });
  // Each window: its argmax exactly as max_pool_backward finds it (strict '>',
  // the first maximal cell in scan order), then its cells are overwritten.
  auto route = [&](int64_t n, int64_t oh, int64_t ow, int64_t c0, int64_t c1) {
    float* xn = x + n * H * W * C;
    float best[kChannelBlock];
    int64_t arg[kChannelBlock];
    const int64_t cb = c1 - c0;
    const Window w = window_at(g, oh, ow);
    if (w.hl == w.hh || w.wl == w.wh) return;
    const int64_t pix0 = (w.h0 + static_cast<int64_t>(w.hl) * g.dilation_h) * W + w.w0 +
                         static_cast<int64_t>(w.wl) * g.dilation_w;
    std::copy(xn + pix0 * C + c0, xn + pix0 * C + c1, best);
    std::fill(arg, arg + cb, pix0);
    for (int kh = w.hl; kh < w.hh; ++kh) {
      const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
      for (int kw = w.wl; kw < w.wh; ++kw) {
        const float* xp = xn + (ih * W + w.w0 + static_cast<int64_t>(kw) * g.dilation_w) * C + c0;
        for (int64_t c = 0; c < cb; ++c) {
          const bool take = xp[c] > best[c];
          best[c] = take ? xp[c] : best[c];
          arg[c] = take ? (ih * W + w.w0 + static_cast<int64_t>(kw) * g.dilation_w) : arg[c];
        }
      }
    }
    for (int kh = w.hl; kh < w.hh; ++kh) {
      const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
      for (int kw = w.wl; kw < w.wh; ++kw) {
        float* xp = xn + (ih * W + w.w0 + static_cast<int64_t>(kw) * g.dilation_w) * C;
        std::fill(xp + c0, xp + c1, 0.f);
      }
    }
    // max_pool_backward adds dy into a zeroed cell (0 + dy); relu_backward
    // passes it where the relu's output (the window's max) is positive.
    const float* gp = gy + ((n * g.out_h + oh) * g.out_w + ow) * C + c0;
    for (int64_t c = 0; c < cb; ++c) xn[arg[c] * C + c0 + c] = best[c] > 0.f ? 0.f + gp[c] : 0.f;
  };
  const int64_t per_row = std::max<int64_t>(1, g.out_w * C * g.kernel_h * g.kernel_w);
  parallel_for(0, p.n * g.out_h, std::max<int64_t>(1, 32768 / per_row), [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r)
      for (int64_t ow = 0; ow < g.out_w; ++ow)
        for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock) route(r / g.out_h, r % g.out_h, ow, c0, std::min(C, c0 + kChannelBlock));
  });
  return true;
}

void avg_pool_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const PoolShape p = pool_shape("avg_pool", call, in[0]->shape());
  const Geometry2d& g = p.g;
  const bool include_pad = call.get<PoolAttrs>().count_include_pad;
  const float* x = in[0]->data();
  float* y = out.data();
  const int64_t C = p.c;
  for_output_rows(p, [&](int64_t n, int64_t oh) {
    for (int64_t ow = 0; ow < g.out_w; ++ow) {
      const Window w = window_at(g, oh, ow);
      float* yp = y + ((n * g.out_h + oh) * g.out_w + ow) * C;
      std::fill(yp, yp + C, 0.f);
      for (int kh = w.hl; kh < w.hh; ++kh) {
        const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
        for (int kw = w.wl; kw < w.wh; ++kw) {
          const float* xp = x + ((n * g.in_h + ih) * g.in_w + w.w0 + static_cast<int64_t>(kw) * g.dilation_w) * C;
          for (int64_t c = 0; c < C; ++c) yp[c] += xp[c];
        }
      }
      const int64_t count = avg_count(g, w, include_pad);
      const float scale = count > 0 ? 1.f / static_cast<float>(count) : 0.f;  // all-padding window -> 0
      for (int64_t c = 0; c < C; ++c) yp[c] *= scale;
    }
  });
}

void avg_pool_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  // Inputs are not kept for avg_pool's backward: the geometry comes from dx's shape.
  const PoolShape p = pool_shape("avg_pool", call, din[0]->shape());
  const Geometry2d& g = p.g;
  const bool include_pad = call.get<PoolAttrs>().count_include_pad;
  const float* gy = dy.data();
  float* dx = din[0]->data();
  const int64_t C = p.c;
  const int64_t work = g.out_h * g.out_w * g.kernel_h * g.kernel_w + g.in_h * g.in_w;
  for_image_channels(p.n, C, work, [&](int64_t n, int64_t c0, int64_t c1) {
    float* dxn = dx + n * g.in_h * g.in_w * C;
    zero_channels(dxn, g.in_h * g.in_w, C, c0, c1);
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const Window w = window_at(g, oh, ow);
        const int64_t count = avg_count(g, w, include_pad);
        if (count == 0) continue;
        const float scale = 1.f / static_cast<float>(count);
        const float* gp = gy + ((n * g.out_h + oh) * g.out_w + ow) * C;
        for (int kh = w.hl; kh < w.hh; ++kh) {
          const int64_t ih = w.h0 + static_cast<int64_t>(kh) * g.dilation_h;
          for (int kw = w.wl; kw < w.wh; ++kw) {
            float* dp = dxn + (ih * g.in_w + w.w0 + static_cast<int64_t>(kw) * g.dilation_w) * C;
            for (int64_t c = c0; c < c1; ++c) dp[c] += gp[c] * scale;
          }
        }
      }
  });
}

void global_avg_pool_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const Shape& s = in[0]->shape();
  const int64_t pixels = s[1] * s[2], C = s[3];
  const float* x = in[0]->data();
  float* y = out.data();
  for_image_channels(s[0], C, pixels, [&](int64_t n, int64_t c0, int64_t c1) {
    double acc[kChannelBlock] = {};  // double: sums over large images lose no precision
    const float* xn = x + n * pixels * C;
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += xn[p * C + c];
    for (int64_t c = c0; c < c1; ++c) y[n * C + c] = static_cast<float>(acc[c - c0] / static_cast<double>(pixels));
  });
}

void global_avg_pool_backward(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const Shape& s = din[0]->shape();
  const int64_t pixels = s[1] * s[2], C = s[3];
  const float* gy = dy.data();
  float* dx = din[0]->data();
  const float scale = 1.f / static_cast<float>(pixels);
  for_image_channels(s[0], C, pixels, [&](int64_t n, int64_t c0, int64_t c1) {
    float* dxn = dx + n * pixels * C;
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = c0; c < c1; ++c) dxn[p * C + c] = gy[n * C + c] * scale;
  });
}

void global_max_pool_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const Shape& s = in[0]->shape();
  const int64_t pixels = s[1] * s[2], C = s[3];
  const float* x = in[0]->data();
  float* y = out.data();
  for_image_channels(s[0], C, pixels, [&](int64_t n, int64_t c0, int64_t c1) {
    const float* xn = x + n * pixels * C;
    float* yp = y + n * C;
    std::copy(xn + c0, xn + c1, yp + c0);
    for (int64_t p = 1; p < pixels; ++p)
      for (int64_t c = c0; c < c1; ++c) yp[c] = xn[p * C + c] > yp[c] ? xn[p * C + c] : yp[c];
  });
}

void global_max_pool_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const Shape& s = in[0]->shape();
  const int64_t pixels = s[1] * s[2], C = s[3];
  const float* x = in[0]->data();
  const float* gy = dy.data();
  float* dx = din[0]->data();
  for_image_channels(s[0], C, pixels, [&](int64_t n, int64_t c0, int64_t c1) {
    const float* xn = x + n * pixels * C;
    float* dxn = dx + n * pixels * C;
    zero_channels(dxn, pixels, C, c0, c1);
    // First maximal pixel per channel, as in max_pool; scanned pixel-major so reads stay contiguous.
    float best[kChannelBlock];
    int64_t arg[kChannelBlock] = {};
    std::copy(xn + c0, xn + c1, best);
    for (int64_t p = 1; p < pixels; ++p)
      for (int64_t c = c0; c < c1; ++c)
        if (xn[p * C + c] > best[c - c0]) best[c - c0] = xn[p * C + c], arg[c - c0] = p;
    for (int64_t c = c0; c < c1; ++c) dxn[arg[c - c0] * C + c] = gy[n * C + c];
  });
}

}  // namespace ec::cpu
