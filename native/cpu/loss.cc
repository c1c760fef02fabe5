// Scalar losses: mse_loss, rms_loss, sum_squares; each output has shape [].
//
// Sums accumulate in double over fixed-size blocks whose partial sums are
// added in block order, so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

constexpr int64_t kBlock = 1 << 15;
constexpr int64_t kGrain = 1 << 14;

// sum over i of term(i), for i in [0, n).
template <class F>
double block_sum(int64_t n, F term) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks, 0.0);
  parallel_for(0, blocks, 1, [&](int64_t s, int64_t e) {
    for (int64_t b = s; b < e; ++b) {
      const int64_t end = std::min(n, (b + 1) * kBlock);
      double acc = 0.0;
      for (int64_t i = b * kBlock; i < end; ++i) acc += term(i);
      partial[b] = acc;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

double mean_squared_diff(const Tensor& a, const Tensor& b) {
  const float *x = a.data(), *y = b.data();
  const int64_t n = a.numel();
  return block_sum(n, [&](int64_t i) {
           const double d = static_cast<double>(x[i]) - y[i];
           return d * d;
         }) / static_cast<double>(n);
}


// da = k * (a - b), db = -da, for a scalar k (the loss-specific factor times dy).
void diff_grads(const Inputs& in, double k, const Grads& din) {
  Tensor *da = grad(din, 0), *db = grad(din, 1);
  if (!da && !db) return;
  const float *x = in[0]->data(), *y = in[1]->data();
  float* pa = da ? da->data() : nullptr;
  float* pb = db ? db->data() : nullptr;
  const float kf = static_cast<float>(k);
  parallel_for(0, in[0]->numel(), kGrain, [&](int64_t s, int64_t e) {
    if (pa)
      for (int64_t i = s; i < e; ++i) pa[i] = kf * (x[i] - y[i]);
    if (pb)
      for (int64_t i = s; i < e; ++i) pb[i] = kf * (y[i] - x[i]);
  });
}

}  // namespace

void mse_loss_forward(const OpCall&, const Inputs& in, Tensor& out) {
  out.data()[0] = static_cast<float>(mean_squared_diff(*in[0], *in[1]));
}

// d/da mean((a-b)^2) = 2(a-b)/n.
void mse_loss_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const double n = static_cast<double>(in[0]->numel());
  diff_grads(in, 2.0 * dy.data()[0] / n, din);
}

void rms_loss_forward(const OpCall&, const Inputs& in, Tensor& out) {
  out.data()[0] = static_cast<float>(std::sqrt(mean_squared_diff(*in[0], *in[1])));
}

// d/da sqrt(mse) = (a-b)/(n*rms). At rms == 0 (a == b) the derivative does
// not exist; 0 is the subgradient that keeps training finite.
void rms_loss_backward(const OpCall&, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din) {
  const double n = static_cast<double>(in[0]->numel());
  const double rms = out.data()[0];
  diff_grads(in, rms > 0.0 ? dy.data()[0] / (n * rms) : 0.0, din);
}

void sum_squares_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const float* x = in[0]->data();
  out.data()[0] = static_cast<float>(block_sum(in[0]->numel(), [&](int64_t i) {
    return static_cast<double>(x[i]) * x[i];
  }));
}

void sum_squares_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad(din, 0);
  if (!dx) return;
  const float k = 2.f * dy.data()[0];
  const float* x = in[0]->data();
  float* d = dx->data();
  parallel_for(0, dx->numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) d[i] = k * x[i];
  });
}

}  // namespace ec::cpu
