// Softmax and log-softmax along one axis on the GPU.
//
// The tensor is viewed as [outer, A, inner] with A the softmax axis. Long rows
// over the last axis (inner == 1, A >= 64: classifier logits) get a block per
// row with block-wide max / sum; everything else a thread per (outer, inner)
// column walking A, which is coalesced across inner. Numerically stable as on
// the CPU: the maximum is subtracted before exp, and log-softmax is formed as
// (x - max) - log(sum).
#include "launch.cuh"

namespace ec::cuda {

namespace {

struct Layout {
  int64_t outer = 1, axis = 1, inner = 1;
};

Layout layout_of(const char* who, const OpCall& call, const Shape& s) {
  const int ax = normalize_axis(who, call.get<AxisAttrs>().axis, static_cast<int>(s.size()));
  Layout l;
  for (int d = 0; d < static_cast<int>(s.size()); ++d) (d < ax ? l.outer : d == ax ? l.axis : l.inner) *= s[d];
  return l;
}

constexpr int kRowThreads = 256;

template <bool kLog>
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t A) {
  __shared__ float tmp[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * A;
    float* yr = y + r * A;
    float mx = -INFINITY;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) mx = mx < xr[a] ? xr[a] : mx;
    mx = block_reduce<true>(mx, tmp);
    float sum = 0.f;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) sum += expf(xr[a] - mx);
    sum = block_reduce<false>(sum, tmp);
    const float ls = logf(sum), inv = 1.f / sum;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) yr[a] = kLog ? (xr[a] - mx) - ls : expf(xr[a] - mx) * inv;
  }
}

template <bool kLog>
__global__ void softmax_cols_kernel(const float* x, float* y, Layout l) {
  EC_GRID_STRIDE(i, l.outer * l.inner) {
    const int64_t o = i / l.inner, j = i - o * l.inner, st = l.inner;
    const float* xp = x + o * l.axis * st + j;
    float* yp = y + o * l.axis * st + j;
    float mx = -INFINITY;
    for (int64_t a = 0; a < l.axis; ++a) mx = mx < xp[a * st] ? xp[a * st] : mx;
    float sum = 0.f;
    for (int64_t a = 0; a < l.axis; ++a) sum += expf(xp[a * st] - mx);
    const float ls = logf(sum), inv = 1.f / sum;
    for (int64_t a = 0; a < l.axis; ++a) yp[a * st] = kLog ? (xp[a * st] - mx) - ls : expf(xp[a * st] - mx) * inv;
  }
}

// softmax: dx = y (dy - sum(dy y)); log-softmax: dx = dy - exp(y) sum(dy).
template <bool kLog>
__global__ void softmax_grad_rows_kernel(const float* y, const float* g, float* d, int64_t rows, int64_t A) {
  __shared__ float tmp[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *yr = y + r * A, *gr = g + r * A;
    float s = 0.f;
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x) s += kLog ? gr[a] : gr[a] * yr[a];
    s = block_reduce<false>(s, tmp);
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x)
      d[r * A + a] = kLog ? gr[a] - expf(yr[a]) * s : yr[a] * (gr[a] - s);
  }
}

template <bool kLog>
__global__ void softmax_grad_cols_kernel(const float* y, const float* g, float* d, Layout l) {
  EC_GRID_STRIDE(i, l.outer * l.inner) {
    const int64_t o = i / l.inner, j = i - o * l.inner, st = l.inner, base = o * l.axis * st + j;
    float s = 0.f;
    for (int64_t a = 0; a < l.axis; ++a) s += kLog ? g[base + a * st] : g[base + a * st] * y[base + a * st];
    for (int64_t a = 0; a < l.axis; ++a) {
      const int64_t k = base + a * st;
      d[k] = kLog ? g[k] - expf(y[k]) * s : y[k] * (g[k] - s);
    }
  }
}

bool use_rows(const Layout& l) { return l.inner == 1 && l.axis >= 64; }

template <bool kLog>
void forward_impl(const char* who, const OpCall& call, const Inputs& in, Tensor& out) {
  const Layout l = layout_of(who, call, out.shape());
  if (out.numel() == 0) return;
  if (use_rows(l))
    softmax_rows_kernel<kLog><<<blocks_for(l.outer, 1), kRowThreads, 0, stream()>>>(in[0]->data(), out.data(), l.outer, l.axis);
  else
    softmax_cols_kernel<kLog><<<blocks_for(l.outer * l.inner), kThreads, 0, stream()>>>(in[0]->data(), out.data(), l);
  EC_CUDA_LAUNCH_CHECK();
}

template <bool kLog>
void backward_impl(const char* who, const OpCall& call, const Tensor& out, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const Layout l = layout_of(who, call, out.shape());
  if (use_rows(l))
    softmax_grad_rows_kernel<kLog><<<blocks_for(l.outer, 1), kRowThreads, 0, stream()>>>(out.data(), dy.data(), dx->data(),
                                                                            l.outer, l.axis);
  else
    softmax_grad_cols_kernel<kLog><<<blocks_for(l.outer * l.inner), kThreads, 0, stream()>>>(out.data(), dy.data(), dx->data(), l);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void softmax_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  forward_impl<false>("softmax", call, in, out);
}
void log_softmax_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  forward_impl<true>("log_softmax", call, in, out);
}
void softmax_backward_cuda(const OpCall& call, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  backward_impl<false>("softmax", call, out, dy, din);
}
void log_softmax_backward_cuda(const OpCall& call, const Inputs&, const Tensor& out, const Tensor& dy,
                               const Grads& din) {
  backward_impl<true>("log_softmax", call, out, dy, din);
}

}  // namespace ec::cuda
