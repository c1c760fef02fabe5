// Scalar losses on the GPU: mse_loss, rms_loss, sum_squares (outputs [] ).
//
// Forward sums run through the deterministic two-pass reduce in double, the
// final scaling (and rms's square root) in the last pass, so the result never
// visits the host. Backward kernels read dy (and rms's output) from device
// memory and form the scalar factor on the device, in double like the CPU.
#include "reduce.cuh"

namespace ec::cuda {

namespace {

struct SquaredDiffTerm {
  const float *a, *b;
  __device__ double operator()(int64_t, int64_t r) const {
    const double d = static_cast<double>(a[r]) - b[r];
    return d * d;
  }
};

struct SquareTerm {
  const float* x;
  __device__ double operator()(int64_t, int64_t r) const { return static_cast<double>(x[r]) * x[r]; }
};

enum class Kind { Mse, Rms };

// da = k (a - b), db = -da with k = 2 dy / n (mse) or dy / (n rms) (rms; 0 at rms == 0).
__global__ void diff_grad_kernel(const float* a, const float* b, const float* dy, const float* out, int kind,
                                 double n, float* da, float* db, int64_t total) {
  double k = 2.0 * dy[0] / n;
  if (kind == static_cast<int>(Kind::Rms)) {
    const double rms = out[0];
    k = rms > 0.0 ? dy[0] / (n * rms) : 0.0;
  }
  const float kf = static_cast<float>(k);
  EC_GRID_STRIDE(i, total) {
    if (da) da[i] = kf * (a[i] - b[i]);
    if (db) db[i] = kf * (b[i] - a[i]);
  }
}

__global__ void sum_squares_grad_kernel(const float* x, const float* dy, float* dx, int64_t total) {
  const float k = 2.f * dy[0];
  EC_GRID_STRIDE(i, total) dx[i] = k * x[i];
}

void diff_grads(const Inputs& in, const Tensor& dy, const Tensor* out, Kind kind, const Grads& din) {
  Tensor *da = grad_at(din, 0), *db = grad_at(din, 1);
  const int64_t n = in[0]->numel();
  if ((!da && !db) || n == 0) return;
  diff_grad_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0]->data(), in[1]->data(), dy.data(), out ? out->data() : nullptr,
                                                static_cast<int>(kind), static_cast<double>(n),
                                                da ? da->data() : nullptr, db ? db->data() : nullptr, n);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void mse_loss_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const int64_t n = in[0]->numel();
  reduce_cuda(SquaredDiffTerm{in[0]->data(), in[1]->data()}, 1, n, 1.0 / static_cast<double>(n), out.data());
}

void mse_loss_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  diff_grads(in, dy, nullptr, Kind::Mse, din);
}

void rms_loss_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const int64_t n = in[0]->numel();
  reduce_cuda(SquaredDiffTerm{in[0]->data(), in[1]->data()}, 1, n, 1.0 / static_cast<double>(n), out.data(),
              Post::Sqrt);
}

void rms_loss_backward_cuda(const OpCall&, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din) {
  diff_grads(in, dy, &out, Kind::Rms, din);
}

void sum_squares_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  reduce_cuda(SquareTerm{in[0]->data()}, 1, in[0]->numel(), 1.0, out.data());
}

void sum_squares_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  sum_squares_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(in[0]->data(), dy.data(), dx->data(), dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
