// Broadcasting add/mul, concat and reshape (which also serves flatten) on the GPU.
//
// Broadcasting follows native/cpu/elementwise.cc: both operands right-aligned
// against the output, dimensions of size 1 dropped and neighbours with the
// same pattern (a present / b present) merged, so any rank becomes at most a
// few dimensions with per-operand strides (0 = broadcast). Same shapes and a
// last-axis vector take flat fast paths. Backward reduces dY over the
// dimensions an input was broadcast along with the deterministic reduce.
#include <vector>

#include "reduce.cuh"

namespace ec::cuda {

namespace {

constexpr int kMaxDims = 8;

// Merged dimensions with each operand's strides (0 = broadcast along it).
struct Plan {
  int rank = 0;
  int64_t size[kMaxDims] = {}, sa[kMaxDims] = {}, sb[kMaxDims] = {};
};

int64_t aligned_dim(const Shape& s, size_t r, size_t i) { return i < r - s.size() ? 1 : s[i - (r - s.size())]; }

Plan plan_broadcast(const char* who, const Shape& a, const Shape& b, const Shape& out) {
  const size_t r = out.size();
  std::vector<int64_t> size;
  std::vector<int> pattern;
  for (size_t i = 0; i < r; ++i) {
    if (out[i] == 1) continue;
    const int pat = (aligned_dim(a, r, i) != 1 ? 1 : 0) | (aligned_dim(b, r, i) != 1 ? 2 : 0);
    if (!pattern.empty() && pattern.back() == pat) size.back() *= out[i];
    else size.push_back(out[i]), pattern.push_back(pat);
  }
  if (size.empty()) size.push_back(1), pattern.push_back(3);
  check_rank(who, size.size(), kMaxDims);
  Plan p;
  p.rank = static_cast<int>(size.size());
  int64_t ra = 1, rb = 1;
  for (int k = p.rank - 1; k >= 0; --k) {
    p.size[k] = size[k];
    if (pattern[k] & 1) p.sa[k] = ra, ra *= size[k];
    if (pattern[k] & 2) p.sb[k] = rb, rb *= size[k];
  }
  return p;
}

struct AddF {
  __device__ float operator()(float x, float y) const { return x + y; }
};
struct MulF {
  __device__ float operator()(float x, float y) const { return x * y; }
};

template <class F>
__global__ void same_shape_kernel(const float* a, const float* b, float* y, int64_t n, F f) {
  EC_GRID_STRIDE(i, n) y[i] = f(a[i], b[i]);
}

// b is a vector over the last axis of length `last`.
template <class F>
__global__ void last_axis_kernel(const float* a, const float* b, float* y, int64_t n, int64_t last, F f) {
  EC_GRID_STRIDE(i, n) y[i] = f(a[i], b[i % last]);
}

template <class F>
__global__ void broadcast_kernel(const float* a, const float* b, float* y, int64_t n, Plan p, F f) {
  EC_GRID_STRIDE(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int k = p.rank - 1; k >= 0; --k) {
      const int64_t idx = rem % p.size[k];
      rem /= p.size[k];
      oa += idx * p.sa[k];
      ob += idx * p.sb[k];
    }
    y[i] = f(a[oa], b[ob]);
  }
}

template <class F>
void broadcast_apply(const char* who, const Tensor& a, const Tensor& b, float* y, const Shape& out, F f) {
  const int64_t n = shape_numel(out);
  if (n == 0) return;
  const Shape &as = a.shape(), &bs = b.shape();
  const int64_t last = out.empty() ? 1 : out.back();
  if (as == bs) {
    same_shape_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a.data(), b.data(), y, n, f);
  } else if (as == out && last > 1 && !bs.empty() && bs.back() == last && shape_numel(bs) == last) {
    last_axis_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a.data(), b.data(), y, n, last, f);
  } else {
    broadcast_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(a.data(), b.data(), y, n, plan_broadcast(who, as, bs, out), f);
  }
  EC_CUDA_LAUNCH_CHECK();
}

// Sum of g over the dimensions dst was broadcast along: kept dimensions index
// the output (row-major, dst's own layout), reduced ones the summation.
struct ReduceTerm {
  const float* g;
  int nk = 0, nr = 0;
  int64_t ksize[kMaxDims] = {}, kstride[kMaxDims] = {}, rsize[kMaxDims] = {}, rstride[kMaxDims] = {};
  __device__ double operator()(int64_t k, int64_t r) const {
    int64_t off = 0;
    for (int d = nk - 1; d >= 0; --d) off += (k % ksize[d]) * kstride[d], k /= ksize[d];
    for (int d = nr - 1; d >= 0; --d) off += (r % rsize[d]) * rstride[d], r /= rsize[d];
    return g[off];
  }
};

// dst (shape ds, which broadcasts to gs) = sum of g over the broadcast dimensions.
void reduce_to(const char* who, const float* g, const Shape& gs, float* dst, const Shape& ds) {
  const int64_t n = shape_numel(gs), nd = shape_numel(ds);
  if (nd == 0) return;
  if (n == nd) return copy_device(dst, g, n);
  if (n == 0) return fill_cuda(dst, nd, 0.f);
  const Plan p = plan_broadcast(who, gs, ds, gs);  // sa: g's strides, sb != 0: kept by dst
  ReduceTerm t;
  t.g = g;
  int64_t nk = 1, nr = 1;
  for (int k = 0; k < p.rank; ++k) {
    if (p.sb[k]) t.ksize[t.nk] = p.size[k], t.kstride[t.nk++] = p.sa[k], nk *= p.size[k];
    else t.rsize[t.nr] = p.size[k], t.rstride[t.nr++] = p.sa[k], nr *= p.size[k];
  }
  reduce_cuda(t, nk, nr, 1.0, dst);
}

__global__ void concat_copy_kernel(const float* src, float* dst, int64_t outer, int64_t w, int64_t row,
                                   int64_t off, bool gather) {
  EC_GRID_STRIDE(i, outer * w) {
    const int64_t o = i / w, e = i - o * w;
    if (gather) dst[i] = src[o * row + off + e];  // backward: slice of dy
    else dst[o * row + off + e] = src[i];         // forward: into y's columns
  }
}

}  // namespace

void add_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  broadcast_apply("add", *in[0], *in[1], out.data(), out.shape(), AddF{});
}

void add_backward_cuda(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  for (size_t i = 0; i < 2; ++i)
    if (Tensor* d = grad_at(din, i)) reduce_to("add", dy.data(), dy.shape(), d->data(), d->shape());
}

void mul_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  broadcast_apply("mul", *in[0], *in[1], out.data(), out.shape(), MulF{});
}

// d(a*b)/da = dy * b at the output's shape, reduced back to a's shape.
void mul_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  for (size_t i = 0; i < 2; ++i) {
    Tensor* d = grad_at(din, i);
    if (!d) continue;
    Tensor prod = d->shape() == dy.shape() ? *d : Tensor(dy.shape(), scratch(dy.numel()).storage());
    broadcast_apply("mul", dy, *in[1 - i], prod.data(), dy.shape(), MulF{});
    reduce_to("mul", prod.data(), dy.shape(), d->data(), d->shape());
  }
}

void concat_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const int axis = normalize_axis("concat", call.get<AxisAttrs>().axis, out.rank());
  int64_t outer, inner;
  split_at_axis(out.shape(), axis, outer, inner);
  const int64_t row = out.shape()[axis] * inner;
  int64_t off = 0;
  for (const Tensor* t : in) {
    const int64_t w = t->shape()[axis] * inner;
    if (w && outer) {
      concat_copy_kernel<<<blocks_for(outer * w), kThreads, 0, stream()>>>(t->data(), out.data(), outer, w, row, off, false);
      EC_CUDA_LAUNCH_CHECK();
    }
    off += w;
  }
}

// Each input's extent comes from its gradient buffer, else from the input
// (kept for this); unknown extents must form one run (as on the CPU).
void concat_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const int axis = normalize_axis("concat", call.get<AxisAttrs>().axis, dy.rank());
  const int64_t k = static_cast<int64_t>(std::max(in.size(), din.size()));
  std::vector<int64_t> extent(k, -1), offset(k, -1);
  for (int64_t i = 0; i < k; ++i) {
    if (Tensor* d = grad_at(din, i)) extent[i] = d->shape()[axis];
    else if (i < static_cast<int64_t>(in.size()) && in[i]) extent[i] = in[i]->shape()[axis];
  }
  int64_t first = k, last = -1;
  for (int64_t i = 0; i < k; ++i)
    if (extent[i] < 0) first = std::min(first, i), last = i;
  for (int64_t i = 0, off = 0; i < first; off += extent[i], ++i) offset[i] = off;
  for (int64_t i = k - 1, end = dy.shape()[axis]; i > last; --i) offset[i] = (end -= extent[i]);
  int64_t outer, inner;
  split_at_axis(dy.shape(), axis, outer, inner);
  const int64_t row = dy.shape()[axis] * inner;
  for (int64_t i = 0; i < k; ++i) {
    Tensor* d = grad_at(din, i);
    if (!d) continue;
    if (offset[i] < 0)
      throw Error("concat: cannot place the gradient of input " + std::to_string(i) +
                  " because the extents of unwanted inputs on both sides of it are unknown");
    const int64_t w = extent[i] * inner;
    if (w == 0 || outer == 0) continue;
    concat_copy_kernel<<<blocks_for(outer * w), kThreads, 0, stream()>>>(dy.data(), d->data(), outer, w, row, offset[i] * inner,
                                                            true);
    EC_CUDA_LAUNCH_CHECK();
  }
}

void reshape_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  copy_device(out.data(), in[0]->data(), out.numel());
}

void reshape_backward_cuda(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (Tensor* d = grad_at(din, 0)) copy_device(d->data(), dy.data(), d->numel());
}

}  // namespace ec::cuda
