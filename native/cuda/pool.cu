// Pooling on the GPU, NHWC: windowed max / avg pooling and the global forms.
//
// Geometry (output size, SAME padding, ceil mode) comes from resolve_window,
// and the window / divisor rules copy native/cpu/pool.cc. Forwards run a
// thread per output element (channels fastest, so loads coalesce). Backwards
// gather rather than scatter: a thread per input element visits the output
// windows that cover it, so no atomics and a fixed summation order. Max pool
// first records each window's argmax (the first maximal tap in scan order,
// as on the CPU), then the gather routes dy to it.
#include <cfloat>

#include "reduce.cuh"

namespace ec::cuda {

namespace {

struct PoolGeom {
  int64_t N, C;
  int H, W, OH, OW, KH, KW, sh, sw, dh, dw, pt, pb, pl, pr;
};

PoolGeom pool_geom(const char* who, const OpCall& call, const Shape& x) {
  const Geometry2d g = resolve_window(who, call.get<PoolAttrs>().win, x[1], x[2], true);
  for (int64_t d : {x[1], x[2], g.out_h, g.out_w})
    if (d > 0x7fffffff) throw Error(std::string(who) + ": dimension too large for the CUDA kernels");
  return {x[0], x[3], static_cast<int>(x[1]), static_cast<int>(x[2]), static_cast<int>(g.out_h),
          static_cast<int>(g.out_w), g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w,
          g.pad_top, g.pad_bottom, g.pad_left, g.pad_right};
}

// Taps [lo, hi) of a window starting at `start` (k taps, dilation d) inside [0, size).
__device__ void tap_range(int64_t start, int k, int d, int64_t size, int& lo, int& hi) {
  lo = start < 0 ? static_cast<int>((-start + d - 1) / d) : 0;
  const int64_t last = size - 1 - start;
  hi = last < 0 ? 0 : static_cast<int>(last / d + 1 < k ? last / d + 1 : k);
  if (hi < lo) hi = lo;
}

struct Win {
  int h0, w0, hl, hh, wl, wh;
};

__device__ Win window_at(const PoolGeom& g, int oh, int ow) {
  Win w;
  w.h0 = oh * g.sh - g.pt;
  w.w0 = ow * g.sw - g.pl;
  tap_range(w.h0, g.KH, g.dh, g.H, w.hl, w.hh);
  tap_range(w.w0, g.KW, g.dw, g.W, w.wl, w.wh);
  return w;
}

// Avg divisor; with padding counted the window is still clipped to the padded extent.
__device__ int avg_count(const PoolGeom& g, const Win& w, bool include_pad) {
  if (!include_pad) return (w.hh - w.hl) * (w.wh - w.wl);
  int hl, hh, wl, wh;
  tap_range(w.h0 + g.pt, g.KH, g.dh, g.H + g.pt + g.pb, hl, hh);
  tap_range(w.w0 + g.pl, g.KW, g.dw, g.W + g.pl + g.pr, wl, wh);
  return (hh - hl) * (wh - wl);
}

// Decomposes a flat NHWC index over [N, h, w, C].
__device__ __forceinline__ void nhwc(int64_t i, int64_t C, int h, int w, int64_t& n, int& y, int& x, int64_t& c) {
  c = i % C;
  int64_t t = i / C;
  x = static_cast<int>(t % w);
  t /= w;
  y = static_cast<int>(t % h);
  n = t / h;
}

// Max forward; with `arg` also records the argmax pixel (ih*W + iw, -1 for a window without real cells).
__global__ void max_pool_kernel(PoolGeom g, const float* x, float* y, int* arg, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    int64_t n, c;
    int oh, ow;
    nhwc(i, g.C, g.OH, g.OW, n, oh, ow, c);
    const Win w = window_at(g, oh, ow);
    const float* xn = x + n * g.H * static_cast<int64_t>(g.W) * g.C + c;
    float best = -FLT_MAX;  // an all-padding window: finite, as on the CPU
    int64_t at = -1;
    for (int kh = w.hl; kh < w.hh; ++kh) {
      const int64_t row = static_cast<int64_t>(w.h0 + kh * g.dh) * g.W;
      for (int kw = w.wl; kw < w.wh; ++kw) {
        const int64_t pix = row + w.w0 + kw * g.dw;
        const float v = xn[pix * g.C];
        if (at < 0 || v > best) best = v, at = pix;
      }
    }
    if (y) y[i] = best;
    if (arg) arg[i] = static_cast<int>(at);  // the caller checked H*W fits
  }
}

// dx[n,ih,iw,c] = sum of dy over the windows covering (ih, iw) whose argmax it is
// (max), or of dy / count over the covering windows (avg, arg null).
__global__ void pool_grad_kernel(PoolGeom g, const float* dy, const int* arg, bool include_pad, float* dx,
                                 int64_t total) {
  EC_GRID_STRIDE(i, total) {
    int64_t n, c;
    int ih, iw;
    nhwc(i, g.C, g.H, g.W, n, ih, iw, c);
    const int pix = ih * g.W + iw;
    const int64_t base = n * g.OH * static_cast<int64_t>(g.OW) * g.C + c;
    float acc = 0.f;
    for (int kh = 0; kh < g.KH; ++kh) {
      const int th = ih + g.pt - kh * g.dh;
      if (th < 0) break;  // later taps start further up
      if (th % g.sh || th / g.sh >= g.OH) continue;
      const int oh = th / g.sh;
      for (int kw = 0; kw < g.KW; ++kw) {
        const int tw = iw + g.pl - kw * g.dw;
        if (tw < 0) break;
        if (tw % g.sw || tw / g.sw >= g.OW) continue;
        const int ow = tw / g.sw;
        const int64_t o = base + (static_cast<int64_t>(oh) * g.OW + ow) * g.C;
        if (arg) {
          if (arg[o] == pix) acc += dy[o];
        } else {
          const int count = avg_count(g, window_at(g, oh, ow), include_pad);
          if (count > 0) acc += dy[o] * (1.f / static_cast<float>(count));
        }
      }
    }
    dx[i] = acc;
  }
}

__global__ void avg_pool_kernel(PoolGeom g, const float* x, bool include_pad, float* y, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    int64_t n, c;
    int oh, ow;
    nhwc(i, g.C, g.OH, g.OW, n, oh, ow, c);
    const Win w = window_at(g, oh, ow);
    const float* xn = x + n * g.H * static_cast<int64_t>(g.W) * g.C + c;
    float sum = 0.f;
    for (int kh = w.hl; kh < w.hh; ++kh)
      for (int kw = w.wl; kw < w.wh; ++kw)
        sum += xn[(static_cast<int64_t>(w.h0 + kh * g.dh) * g.W + w.w0 + kw * g.dw) * g.C];
    const int count = avg_count(g, w, include_pad);
    y[i] = sum * (count > 0 ? 1.f / static_cast<float>(count) : 0.f);
  }
}

// Global max: a thread per (n, c); with dx also routes dy to the first maximal pixel.
__global__ void global_max_kernel(const float* x, int64_t pixels, int64_t C, int64_t nc, float* y,
                                  const float* dy, float* dx) {
  EC_GRID_STRIDE(i, nc) {
    const int64_t n = i / C, c = i % C;
    const float* xn = x + n * pixels * C + c;
    float best = xn[0];
    int64_t at = 0;
    for (int64_t p = 1; p < pixels; ++p)
      if (xn[p * C] > best) best = xn[p * C], at = p;
    if (y) y[i] = best;
    if (dx)
      for (int64_t p = 0; p < pixels; ++p) dx[(n * pixels + p) * C + c] = p == at ? dy[i] : 0.f;
  }
}

__global__ void global_avg_grad_kernel(const float* dy, int64_t pixels, int64_t C, float scale, float* dx,
                                       int64_t total) {
  EC_GRID_STRIDE(i, total) dx[i] = dy[(i / (pixels * C)) * C + i % C] * scale;
}

// Sum over pixels of image n, channel c: k = n*C + c, r = pixel.
struct PixelTerm {
  const float* x;
  int64_t pixels, C;
  __device__ double operator()(int64_t k, int64_t r) const { return x[((k / C) * pixels + r) * C + k % C]; }
};

}  // namespace

void max_pool_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const PoolGeom g = pool_geom("max_pool", call, in[0]->shape());
  if (out.numel() == 0) return;
  max_pool_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(g, in[0]->data(), out.data(), nullptr, out.numel());
  EC_CUDA_LAUNCH_CHECK();
}

void max_pool_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const PoolGeom g = pool_geom("max_pool", call, in[0]->shape());
  if (static_cast<int64_t>(g.H) * g.W > 0x7fffffff) throw Error("max_pool: image too large for the CUDA kernels");
  Tensor arg = scratch(dy.numel());  // int32 per output, same size as a float
  int* a = reinterpret_cast<int*>(arg.data());
  if (dy.numel() > 0) {
    max_pool_kernel<<<blocks_for(dy.numel()), kThreads, 0, stream()>>>(g, in[0]->data(), nullptr, a, dy.numel());
    EC_CUDA_LAUNCH_CHECK();
  }
  pool_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(g, dy.data(), a, false, dx->data(), dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

void avg_pool_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const PoolGeom g = pool_geom("avg_pool", call, in[0]->shape());
  if (out.numel() == 0) return;
  avg_pool_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(g, in[0]->data(), call.get<PoolAttrs>().count_include_pad,
                                                         out.data(), out.numel());
  EC_CUDA_LAUNCH_CHECK();
}

// The inputs are not kept for avg_pool's backward: the geometry comes from dx's shape.
void avg_pool_backward_cuda(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const PoolGeom g = pool_geom("avg_pool", call, dx->shape());
  pool_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(g, dy.data(), nullptr,
                                                          call.get<PoolAttrs>().count_include_pad, dx->data(),
                                                          dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

void global_avg_pool_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const Shape& s = in[0]->shape();
  const int64_t pixels = s[1] * s[2];
  reduce_cuda(PixelTerm{in[0]->data(), pixels, s[3]}, s[0] * s[3], pixels, 1.0 / static_cast<double>(pixels),
              out.data());
}

void global_avg_pool_backward_cuda(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const Shape& s = dx->shape();
  const int64_t pixels = s[1] * s[2];
  global_avg_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(dy.data(), pixels, s[3],
                                                                1.f / static_cast<float>(pixels), dx->data(),
                                                                dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

void global_max_pool_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const Shape& s = in[0]->shape();
  if (out.numel() == 0) return;
  global_max_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(in[0]->data(), s[1] * s[2], s[3], out.numel(), out.data(),
                                                           nullptr, nullptr);
  EC_CUDA_LAUNCH_CHECK();
}

void global_max_pool_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy,
                                   const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const Shape& s = in[0]->shape();
  global_max_kernel<<<blocks_for(dy.numel()), kThreads, 0, stream()>>>(in[0]->data(), s[1] * s[2], s[3], dy.numel(), nullptr,
                                                          dy.data(), dx->data());
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
