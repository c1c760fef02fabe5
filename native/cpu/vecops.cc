#include "vecops.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../core/vecargs.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

using vecargs::same_size;

// Sums f(i) over [0, n) in double, in fixed 64K blocks added in order, so the
// result does not depend on the thread count.
template <class F>
double block_sum(int64_t n, F f) {
  const int64_t block = 1 << 16;
  const int64_t nb = (n + block - 1) / block;
  std::vector<double> part(nb, 0.0);
  parallel_for(0, nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      // Four interleaved partial sums: four independent add chains instead of one.
      double s[4] = {0, 0, 0, 0};
      const int64_t lo = k * block, hi = std::min(n, lo + block);
      int64_t i = lo;
      for (; i + 4 <= hi; i += 4) s[0] += f(i), s[1] += f(i + 1), s[2] += f(i + 2), s[3] += f(i + 3);
      for (; i < hi; ++i) s[0] += f(i);
      part[k] = (s[0] + s[1]) + (s[2] + s[3]);
    }
  });
  return std::accumulate(part.begin(), part.end(), 0.0);
}

template <class F>
void each(int64_t n, F f) {
  parallel_for(0, n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

}  // namespace

double vec_dot(const Tensor& a, const Tensor& b) {
  same_size("dot", a, b);
  const float *x = a.data(), *y = b.data();
  return block_sum(a.numel(), [&](int64_t i) { return static_cast<double>(x[i]) * y[i]; });
}

void vec_axpy(float alpha, const Tensor& x, Tensor& y) {
  same_size("axpy", x, y);
  const float* a = x.data();
  float* b = y.data();
  each(x.numel(), [&](int64_t i) { b[i] += alpha * a[i]; });
}

void vec_scale(Tensor& x, float alpha) {
  float* a = x.data();
  each(x.numel(), [&](int64_t i) { a[i] *= alpha; });
}

double vec_norm1(const Tensor& x) {
  const float* a = x.data();
  return block_sum(x.numel(), [&](int64_t i) { return std::fabs(static_cast<double>(a[i])); });
}

double vec_norm2(const Tensor& x) {
  const float* a = x.data();
  return std::sqrt(block_sum(x.numel(), [&](int64_t i) { return static_cast<double>(a[i]) * a[i]; }));
}

void vec_clamp_channels(Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi) {
  vecargs::clamp_bounds(x, lo, hi);
  const int64_t c = x.dim(-1);
  float* a = x.data();
  each(x.numel(), [&](int64_t i) {
    const int64_t k = i % c;
    a[i] = std::min(std::max(a[i], lo[k]), hi[k]);
  });
}

void vec_adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, float eps,
                   int t) {
  vecargs::adam(x, g, m, v, t);
  const double c1 = 1.0 - std::pow(beta1, t), c2 = 1.0 - std::pow(beta2, t);
  const float step = static_cast<float>(lr * std::sqrt(c2) / c1);
  float *p = x.data(), *mm = m.data(), *vv = v.data();
  const float* gg = g.data();
  each(x.numel(), [&](int64_t i) {
    mm[i] = beta1 * mm[i] + (1 - beta1) * gg[i];
    vv[i] = beta2 * vv[i] + (1 - beta2) * gg[i] * gg[i];
    p[i] -= step * mm[i] / (std::sqrt(vv[i]) + eps);
  });
}

Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx) {
  vecargs::roll_image(x);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor out(x.shape());
  if (!out.numel()) return out;
  dy = ((dy % h) + h) % h;
  dx = ((dx % w) + w) % w;
  const float* src = x.data();
  float* dst = out.data();
  parallel_for(0, n * h, 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t img = r / h, y = r % h, sy = (y - dy + h) % h;
      const float* srow = src + (img * h + sy) * w * c;
      float* drow = dst + r * w * c;
      // Destination column x takes source column (x - dx) mod w: two contiguous runs.
      std::copy(srow + (w - dx) * c, srow + w * c, drow);
      std::copy(srow, srow + (w - dx) * c, drow + dx * c);
    }
  });
  return out;
}

void sym_eig(const std::vector<double>& a_in, int n, std::vector<double>& values, std::vector<double>& vectors) {
  if (n < 1 || static_cast<int64_t>(a_in.size()) != static_cast<int64_t>(n) * n)
    throw Error("eig: expected an n x n matrix but received " + std::to_string(a_in.size()) + " values for n = " + std::to_string(n));
  double scale = 0;
  for (double v : a_in) {
    if (!std::isfinite(v)) throw Error("eig: the matrix has a non-finite entry");
    scale = std::max(scale, std::fabs(v));
  }
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (std::fabs(a_in[i * n + j] - a_in[j * n + i]) > 1e-4 * std::max(scale, 1e-30))
        throw Error("eig: the matrix is not symmetric (entry " + std::to_string(i) + "," + std::to_string(j) + ")");
  std::vector<double> a = a_in, v(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) v[i * n + i] = 1;
  // Cyclic Jacobi: rotate away each off-diagonal entry until they are all negligible.
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
    if (off <= 1e-30 * std::max(scale * scale, 1e-300)) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (std::fabs(apq) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {  // V <- V J
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int x, int y) { return a[x * n + x] > a[y * n + y]; });
  values.assign(n, 0);
  vectors.assign(static_cast<size_t>(n) * n, 0);
  for (int k = 0; k < n; ++k) {
    const int col = order[k];
    values[k] = a[col * n + col];
    // Sign convention: the largest-magnitude component is positive, so results are reproducible.
    int big = 0;
    for (int i = 1; i < n; ++i)
      if (std::fabs(v[i * n + col]) > std::fabs(v[big * n + col])) big = i;
    const double sign = v[big * n + col] < 0 ? -1 : 1;
    for (int i = 0; i < n; ++i) vectors[k * n + i] = sign * v[i * n + col];
  }
}

}  // namespace ec::cpu
