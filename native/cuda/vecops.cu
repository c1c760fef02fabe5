// Device vector routines (vecops.cuh): one kernel or one reduction per call,
// with the CPU's formulas (native/cpu/vecops.cc) and argument checks.
#include <cmath>
#include <string>

#include "core/vecargs.h"
#include "reduce.cuh"
#include "vecops.cuh"

namespace ec::cuda {

namespace {

using vecargs::same_size;

void on_device(const char* who, const Tensor& t) {
  if (t.numel() > 0 && t.device() != Device::Cuda)
    throw Error(std::string(who) + ": expected a CUDA tensor but received host memory");
}

struct DotTerm {
  const float *a, *b;
  __device__ double operator()(int64_t, int64_t r) const { return static_cast<double>(a[r]) * b[r]; }
};
struct AbsTerm {
  const float* a;
  __device__ double operator()(int64_t, int64_t r) const { return fabs(static_cast<double>(a[r])); }
};
struct SquareTerm {
  const float* a;
  __device__ double operator()(int64_t, int64_t r) const { return static_cast<double>(a[r]) * a[r]; }
};

// sum over [0, n) of term, as a double on the host.
template <class Term>
double sum_to_host(const Term& t, int64_t n, Post post = Post::None) {
  Tensor out = scratch(2);
  double* d = reinterpret_cast<double*>(out.data());
  reduce_cuda(t, 1, n, 1.0, d, post);
  double v = 0;
  EC_CUDA_CHECK(cudaMemcpyAsync(&v, d, sizeof(double), cudaMemcpyDeviceToHost, stream()));
  EC_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return v;
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  EC_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
__global__ void scale_kernel(float* x, float alpha, int64_t n) {
  EC_GRID_STRIDE(i, n) x[i] *= alpha;
}
__global__ void clamp_kernel(float* x, const float* lo, const float* hi, int64_t c, int64_t n) {
  EC_GRID_STRIDE(i, n) {
    const int64_t k = i % c;
    const float v = x[i] < lo[k] ? lo[k] : x[i];  // std::min(std::max(..)) as on the CPU, NaN kept
    x[i] = hi[k] < v ? hi[k] : v;
  }
}
__global__ void adam_kernel(float* p, const float* g, float* m, float* v, float step, float beta1, float beta2,
                            float eps, int64_t n) {
  EC_GRID_STRIDE(i, n) {
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    p[i] -= step * m[i] / (sqrtf(v[i]) + eps);
  }
}
__global__ void roll_kernel(const float* x, float* y, int64_t h, int64_t w, int64_t c, int64_t dy, int64_t dx,
                            int64_t n) {
  EC_GRID_STRIDE(i, n) {
    const int64_t ch = i % c, t = i / c, col = t % w, r = t / w, row = r % h, img = r / h;
    const int64_t sy = (row - dy + h) % h, sx = (col - dx + w) % w;
    y[i] = x[((img * h + sy) * w + sx) * c + ch];
  }
}

}  // namespace

double vec_dot(const Tensor& a, const Tensor& b) {
  same_size("dot", a, b);
  on_device("dot", a), on_device("dot", b);
  return sum_to_host(DotTerm{a.data(), b.data()}, a.numel());
}

void vec_axpy(float alpha, const Tensor& x, Tensor& y) {
  same_size("axpy", x, y);
  on_device("axpy", x), on_device("axpy", y);
  if (x.numel() == 0) return;
  axpy_kernel<<<blocks_for(x.numel()), kThreads, 0, stream()>>>(alpha, x.data(), y.data(), x.numel());
  EC_CUDA_LAUNCH_CHECK();
}

void vec_scale(Tensor& x, float alpha) {
  on_device("scale", x);
  if (x.numel() == 0) return;
  scale_kernel<<<blocks_for(x.numel()), kThreads, 0, stream()>>>(x.data(), alpha, x.numel());
  EC_CUDA_LAUNCH_CHECK();
}

double vec_norm1(const Tensor& x) {
  on_device("norm1", x);
  return sum_to_host(AbsTerm{x.data()}, x.numel());
}

double vec_norm2(const Tensor& x) {
  on_device("norm2", x);
  return sum_to_host(SquareTerm{x.data()}, x.numel(), Post::Sqrt);
}

void vec_clamp_channels(Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi) {
  vecargs::clamp_bounds(x, lo, hi);
  on_device("clamp", x);
  const int64_t c = x.dim(-1);
  if (x.numel() == 0) return;
  std::vector<float> bounds(lo);
  bounds.insert(bounds.end(), hi.begin(), hi.end());
  Tensor b = scratch(2 * c);
  EC_CUDA_CHECK(cudaMemcpyAsync(b.data(), bounds.data(), bounds.size() * sizeof(float), cudaMemcpyHostToDevice, stream()));
  clamp_kernel<<<blocks_for(x.numel()), kThreads, 0, stream()>>>(x.data(), b.data(), b.data() + c, c, x.numel());
  EC_CUDA_LAUNCH_CHECK();
}

void vec_adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, float eps,
                   int t) {
  vecargs::adam(x, g, m, v, t);
  on_device("adam", x), on_device("adam", g), on_device("adam", m), on_device("adam", v);
  const double c1 = 1.0 - std::pow(beta1, t), c2 = 1.0 - std::pow(beta2, t);
  const float step = static_cast<float>(lr * std::sqrt(c2) / c1);
  if (x.numel() == 0) return;
  adam_kernel<<<blocks_for(x.numel()), kThreads, 0, stream()>>>(x.data(), g.data(), m.data(), v.data(), step, beta1, beta2, eps,
                                                   x.numel());
  EC_CUDA_LAUNCH_CHECK();
}

Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx) {
  vecargs::roll_image(x);
  on_device("roll", x);
  const int64_t h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor out = device_alloc(x.shape());
  if (!out.numel()) return out;
  dy = ((dy % h) + h) % h;
  dx = ((dx % w) + w) % w;
  roll_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(x.data(), out.data(), h, w, c, dy, dx, out.numel());
  EC_CUDA_LAUNCH_CHECK();
  return out;
}

}  // namespace ec::cuda
