// Pad of any rank on the GPU: constant, reflect (numpy 'reflect', edge
// excluded) or edge, as native/cpu/pad.cc.
//
// Padding is separable, so the forward pads one dimension at a time (a pass
// per padded dimension, viewing the tensor as [outer, n, inner]) and the
// backward folds one dimension at a time in reverse order: each source index
// gathers the (at most three) runs of padded positions that read it. No rank
// limit, no atomics, every pass a coalesced gather.
#include <vector>

#include "launch.cuh"

namespace ec::cuda {

namespace {

// Source index of padded position o along a dimension of n, or -1 (constant).
__device__ __forceinline__ int64_t source_of(int64_t o, int64_t n, int64_t lo, int kind) {
  int64_t i = o - lo;
  if (i >= 0 && i < n) return i;
  if (kind == static_cast<int>(PadKind::Constant)) return -1;
  if (kind == static_cast<int>(PadKind::Reflect)) return i < 0 ? -i : 2 * (n - 1) - i;  // one reflection suffices
  return i < 0 ? 0 : n - 1;                                                            // edge
}

__global__ void pad_dim_kernel(const float* x, float* y, int64_t n, int64_t lo, int64_t m, int64_t inner, int kind,
                               float value, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t e = i % inner, t = i / inner, o = t % m, outer = t / m;
    const int64_t s = source_of(o, n, lo, kind);
    y[i] = s < 0 ? value : x[(outer * n + s) * inner + e];
  }
}

// dx[outer, s, inner] = sum of dy[outer, o, inner] over the o with source_of(o) == s.
__global__ void fold_dim_kernel(const float* g, float* dx, int64_t n, int64_t lo, int64_t hi, int kind,
                                int64_t inner, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t e = i % inner, t = i / inner, s = t % n, outer = t / n, m = n + lo + hi;
    const float* gp = g + outer * m * inner + e;
    float acc = 0.f;
    if (kind == static_cast<int>(PadKind::Edge)) {
      if (s == 0)
        for (int64_t o = 0; o < lo; ++o) acc += gp[o * inner];
    } else if (kind == static_cast<int>(PadKind::Reflect)) {
      if (s >= 1 && s <= lo) acc += gp[(lo - s) * inner];
    }
    acc += gp[(s + lo) * inner];
    if (kind == static_cast<int>(PadKind::Edge)) {
      if (s == n - 1)
        for (int64_t o = lo + n; o < m; ++o) acc += gp[o * inner];
    } else if (kind == static_cast<int>(PadKind::Reflect)) {
      if (s <= n - 2 && s >= n - 1 - hi) acc += gp[(lo + 2 * (n - 1) - s) * inner];
    }
    dx[i] = acc;
  }
}

struct DimPad {
  int d;
  int64_t lo, hi;
};

std::vector<DimPad> padded_dims(const PadAttrs& a, size_t rank) {
  std::vector<DimPad> v;
  for (size_t d = 0; d < rank; ++d)
    if (a.pads[d] || a.pads[d + rank]) v.push_back({static_cast<int>(d), a.pads[d], a.pads[d + rank]});
  return v;
}

}  // namespace

void pad_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const auto& a = call.get<PadAttrs>();
  const std::vector<DimPad> dims = padded_dims(a, in[0]->shape().size());
  if (out.numel() == 0) return;
  if (dims.empty()) return copy_device(out.data(), in[0]->data(), out.numel());
  Shape cur = in[0]->shape();
  Tensor prev;  // keeps the intermediate being read alive
  const float* src = in[0]->data();
  for (size_t k = 0; k < dims.size(); ++k) {
    const DimPad& p = dims[k];
    int64_t outer, inner;
    split_at_axis(cur, p.d, outer, inner);
    const int64_t n = cur[p.d], m = n + p.lo + p.hi;
    cur[p.d] = m;
    Tensor next = k + 1 == dims.size() ? out : scratch(shape_numel(cur));
    const int64_t total = outer * m * inner;
    if (total > 0) {
      pad_dim_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(src, next.data(), n, p.lo, m, inner, static_cast<int>(a.kind),
                                                      a.value, total);
      EC_CUDA_LAUNCH_CHECK();
    }
    prev = next;
    src = prev.data();
  }
}

void pad_backward_cuda(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const auto& a = call.get<PadAttrs>();
  const std::vector<DimPad> dims = padded_dims(a, dx->shape().size());
  if (dims.empty()) return copy_device(dx->data(), dy.data(), dx->numel());
  Shape cur = dy.shape();
  Tensor prev;
  const float* src = dy.data();
  for (size_t k = dims.size(); k-- > 0;) {
    const DimPad& p = dims[k];
    int64_t outer, inner;
    split_at_axis(cur, p.d, outer, inner);
    const int64_t n = dx->shape()[p.d];
    cur[p.d] = n;
    Tensor next = k == 0 ? *dx : scratch(shape_numel(cur));
    const int64_t total = outer * n * inner;
    if (total > 0) {
      fold_dim_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(src, next.data(), n, p.lo, p.hi, static_cast<int>(a.kind),
                                                       inner, total);
      EC_CUDA_LAUNCH_CHECK();
    }
    prev = next;
    src = prev.data();
  }
}

}  // namespace ec::cuda
