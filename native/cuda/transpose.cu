// transpose on the GPU: y.shape[k] = x.shape[perm[k]]. Output dimensions that
// stay neighbours in x are merged first (and size-1 ones dropped), so an
// NHWC <-> NCHW swap is a 3-d gather; a thread per output element computes
// its source offset. Backward is the transpose by the inverse permutation.
#include <vector>

#include "launch.cuh"

namespace ec::cuda {

namespace {

constexpr int kMaxDims = 8;

struct Perm {
  int rank = 0;
  int64_t size[kMaxDims] = {}, step[kMaxDims] = {};  // per output dim: extent, x offset per unit step
};

__global__ void permute_kernel(const float* x, float* y, Perm p, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    int64_t rem = i, off = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      off += (rem % p.size[d]) * p.step[d];
      rem /= p.size[d];
    }
    y[i] = x[off];
  }
}

}  // namespace

void permute_cuda(const float* x, const Shape& xs, const std::vector<int>& perm, float* y) {
  const int r = static_cast<int>(xs.size());
  const int64_t total = shape_numel(xs);
  if (total == 0) return;
  std::vector<int64_t> xstride(r, 1);
  for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * xs[d + 1];
  // Output dims in order, size-1 dropped, runs contiguous in x merged.
  std::vector<int64_t> size, step;
  int prev = -2;
  for (int d = 0; d < r; ++d) {
    const int src = perm[d];
    if (xs[src] == 1) continue;
    if (!size.empty() && src == prev + 1) {
      size.back() *= xs[src];
      step.back() = xstride[src];
    } else {
      size.push_back(xs[src]);
      step.push_back(xstride[src]);
    }
    prev = src;
  }
  if (size.empty()) return copy_device(y, x, total);
  check_rank("transpose", size.size(), kMaxDims);
  Perm p;
  p.rank = static_cast<int>(size.size());
  for (int d = 0; d < p.rank; ++d) p.size[d] = size[d], p.step[d] = step[d];
  permute_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(x, y, p, total);
  EC_CUDA_LAUNCH_CHECK();
}

void transpose_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  permute_cuda(in[0]->data(), in[0]->shape(), call.get<TransposeAttrs>().perm, out.data());
}

void transpose_backward_cuda(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx) return;
  const auto& perm = call.get<TransposeAttrs>().perm;
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int>(i);
  permute_cuda(dy.data(), dy.shape(), inv, dx->data());
}

}  // namespace ec::cuda
