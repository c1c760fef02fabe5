// Broadcasting add/mul, concat and reshape (which also serves flatten).
//
// Broadcasting: both operands are right-aligned against the output shape and
// adjacent output dimensions with the same pattern (a present / b present) are
// merged, so any rank collapses to a few dimensions and the innermost loop
// runs over a contiguous row with unit or zero strides, which vectorizes.
// Backward reduces dY over the dimensions an input was broadcast along.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk, at least
constexpr int64_t kBlock = 4096;     // long rows are split into column blocks of this size


// Dimension i of `s` right-aligned to rank r (missing leading dims are 1).
int64_t aligned_dim(const Shape& s, size_t r, size_t i) {
  return i < r - s.size() ? 1 : s[i - (r - s.size())];
}

// Steps through a multi-index in row-major order, tracking one flat offset.
struct Odometer {
  const std::vector<int64_t>& size;
  const std::vector<int64_t>& stride;
  std::vector<int64_t> idx;
  int64_t off = 0;
  Odometer(const std::vector<int64_t>& sz, const std::vector<int64_t>& st) : size(sz), stride(st), idx(sz.size()) {}
  // Jumps to the flat position `start` (row-major over `size`).
  void seek(int64_t start) {
    off = 0;
    for (size_t k = size.size(); k-- > 0;) {
      idx[k] = start % size[k];
      start /= size[k];
      off += idx[k] * stride[k];
    }
  }
  void next() {
    for (size_t k = size.size(); k-- > 0;) {
      off += stride[k];
      if (++idx[k] < size[k]) return;
      off -= idx[k] * stride[k];
      idx[k] = 0;
    }
  }
};

// The output as merged dimensions (all > 1, or a single 1) with each operand's
// strides (0 = broadcast).
struct BroadcastPlan {
  std::vector<int64_t> size, sa, sb;
};

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b, const Shape& out) {
  const size_t r = out.size();
  BroadcastPlan p;
  std::vector<int> pattern;
  for (size_t i = 0; i < r; ++i) {
    if (out[i] == 1) continue;
    const int pat = (aligned_dim(a, r, i) != 1 ? 1 : 0) | (aligned_dim(b, r, i) != 1 ? 2 : 0);
    if (!pattern.empty() && pattern.back() == pat) p.size.back() *= out[i];
    else p.size.push_back(out[i]), pattern.push_back(pat);
  }
  if (p.size.empty()) p.size.push_back(1), pattern.push_back(3);  // all dims 1: one element
  const size_t m = p.size.size();
  p.sa.assign(m, 0);
  p.sb.assign(m, 0);
  int64_t ra = 1, rb = 1;
  for (size_t k = m; k-- > 0;) {
    if (pattern[k] & 1) p.sa[k] = ra, ra *= p.size[k];
    if (pattern[k] & 2) p.sb[k] = rb, rb *= p.size[k];
  }
  return p;
}

// y = f(a, b) with numpy broadcasting; `out` is the broadcast shape.
template <class F>
void broadcast_apply(const float* a, const Shape& as, const float* b, const Shape& bs, float* y,
                     const Shape& out, F f) {
  const int64_t n = shape_numel(out);
  if (n == 0) return;
  if (as == bs) {  // fast path: same shapes, one flat loop
    parallel_for(0, n, kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) y[i] = f(a[i], b[i]);
    });
    return;
  }
  const int64_t last = out.empty() ? 1 : out.back();
  // Fast path: b is a vector over the last axis ([C] or [1,..,1,C]; not [C,1]).
  if (as == out && last > 1 && !bs.empty() && bs.back() == last && shape_numel(bs) == last) {
    parallel_for(0, n / last, std::max<int64_t>(1, kGrain / last), [&](int64_t s, int64_t e) {
      for (int64_t row = s; row < e; ++row) {
        const float* ar = a + row * last;
        float* yr = y + row * last;
        for (int64_t c = 0; c < last; ++c) yr[c] = f(ar[c], b[c]);
      }
    });
    return;
  }
  const BroadcastPlan p = plan_broadcast(as, bs, out);
  const size_t m = p.size.size();
  // Rows over the outer merged dims, each split into column blocks so a
  // single long row still spreads across threads.
  const int64_t len = p.size[m - 1], blocks = (len + kBlock - 1) / kBlock;
  const std::vector<int64_t> osize(p.size.begin(), p.size.end() - 1);
  const std::vector<int64_t> osa(p.sa.begin(), p.sa.end() - 1), osb(p.sb.begin(), p.sb.end() - 1);
  const bool a_inner = p.sa[m - 1] != 0, b_inner = p.sb[m - 1] != 0;
  parallel_for(0, (n / len) * blocks, std::max<int64_t>(1, kGrain / std::min(len, kBlock)),
               [&](int64_t s, int64_t e) {
    Odometer oa(osize, osa), ob(osize, osb);
    for (int64_t it = s; it < e; ++it) {
      const int64_t row = it / blocks, c0 = (it % blocks) * kBlock, c1 = std::min(len, c0 + kBlock);
      oa.seek(row);
      ob.seek(row);
      const float* ar = a + oa.off;
      const float* br = b + ob.off;
      float* yr = y + row * len;
      if (a_inner && b_inner) {
        for (int64_t c = c0; c < c1; ++c) yr[c] = f(ar[c], br[c]);
      } else if (a_inner) {
        const float bv = br[0];
        for (int64_t c = c0; c < c1; ++c) yr[c] = f(ar[c], bv);
      } else {
        const float av = ar[0];
        for (int64_t c = c0; c < c1; ++c) yr[c] = f(av, br[c]);
      }
    }
  });
}

void copy_parallel(const float* src, float* dst, int64_t n) {
  if (src == dst || n == 0) return;
  parallel_for(0, n, 1 << 16, [&](int64_t s, int64_t e) {
    std::memcpy(dst + s, src + s, (e - s) * sizeof(float));
  });
}

// dst (shape ds, which broadcasts to gs) = sum of g over the broadcast dimensions.
// Accumulates in double: a bias gradient may sum millions of terms.
void reduce_to(const float* g, const Shape& gs, float* dst, const Shape& ds) {
  const int64_t n = shape_numel(gs), nd = shape_numel(ds);
  if (n == nd) return copy_parallel(g, dst, n);
  if (n == 0) return std::fill(dst, dst + nd, 0.f);
  // Planning g against dst merges g's dims into runs that are all kept (dst
  // has a stride there) or all reduced; the outer runs split into two lists.
  const BroadcastPlan p = plan_broadcast(gs, ds, gs);
  const size_t m = p.size.size();
  std::vector<int64_t> ksize, kstride, rsize, rstride;
  for (size_t k = 0; k + 1 < m; ++k) {
    (p.sb[k] ? ksize : rsize).push_back(p.size[k]);
    (p.sb[k] ? kstride : rstride).push_back(p.sa[k]);
  }
  const int64_t nk = shape_numel(ksize), nr = shape_numel(rsize), len = p.size[m - 1];
  if (p.sb[m - 1]) {
    // The last dim is kept: dst is [nk, len]; add whole dY rows, column block by block.
    const int64_t blocks = (len + kBlock - 1) / kBlock;
    const int64_t work = nr * std::min(len, kBlock);
    parallel_for(0, nk * blocks, std::max<int64_t>(1, kGrain / work), [&](int64_t s, int64_t e) {
      std::vector<double> acc(std::min(len, kBlock));
      Odometer ko(ksize, kstride), ro(rsize, rstride);
      for (int64_t it = s; it < e; ++it) {
        const int64_t row = it / blocks, c0 = (it % blocks) * kBlock, w = std::min(len, c0 + kBlock) - c0;
        std::fill(acc.begin(), acc.begin() + w, 0.0);
        ko.seek(row);
        ro.seek(0);
        const int64_t base = ko.off + c0;
        for (int64_t j = 0; j < nr; ++j, ro.next()) {
          const float* src = g + base + ro.off;
          for (int64_t c = 0; c < w; ++c) acc[c] += src[c];
        }
        for (int64_t c = 0; c < w; ++c) dst[row * len + c0 + c] = static_cast<float>(acc[c]);
      }
    });
  } else {
    // The last dim is reduced: each dst element sums contiguous runs of len.
    parallel_for(0, nk, std::max<int64_t>(1, kGrain / (nr * len)), [&](int64_t s, int64_t e) {
      Odometer ko(ksize, kstride), ro(rsize, rstride);
      for (int64_t row = s; row < e; ++row) {
        ko.seek(row);
        ro.seek(0);
        const int64_t base = ko.off;
        double sum = 0.0;
        for (int64_t j = 0; j < nr; ++j, ro.next()) {
          const float* src = g + base + ro.off;
          for (int64_t c = 0; c < len; ++c) sum += src[c];
        }
        dst[row] = static_cast<float>(sum);
      }
    });
  }
}

}  // namespace

void add_forward(const OpCall&, const Inputs& in, Tensor& out) {
  broadcast_apply(in[0]->data(), in[0]->shape(), in[1]->data(), in[1]->shape(), out.data(), out.shape(),
                  [](float x, float y) { return x + y; });
}

// The inputs are not kept for add's backward: shapes come from din.
void add_backward(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  for (size_t i = 0; i < 2; ++i)
    if (Tensor* d = grad(din, i)) reduce_to(dy.data(), dy.shape(), d->data(), d->shape());
}

void mul_forward(const OpCall&, const Inputs& in, Tensor& out) {
  broadcast_apply(in[0]->data(), in[0]->shape(), in[1]->data(), in[1]->shape(), out.data(), out.shape(),
                  [](float x, float y) { return x * y; });
}

// d(a*b)/da = dy*b at the output's shape, reduced back to a's shape (and
// symmetrically for b). When no reduction is needed the product lands in din
// directly and reduce_to's copy sees src == dst and does nothing.
void mul_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  for (size_t i = 0; i < 2; ++i) {
    Tensor* d = grad(din, i);
    if (!d) continue;
    const Tensor& other = *in[1 - i];
    Tensor prod = d->shape() == dy.shape() ? *d : Tensor(dy.shape());
    broadcast_apply(dy.data(), dy.shape(), other.data(), other.shape(), prod.data(), dy.shape(),
                    [](float g, float o) { return g * o; });
    reduce_to(prod.data(), prod.shape(), d->data(), d->shape());
  }
}

// Each input is an [outer, extent*inner] block copied into its column range
// of the [outer, total*inner] output.
void concat_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const int axis = normalize_axis("concat", call.get<AxisAttrs>().axis, out.rank());
  int64_t outer, inner;
  split_at_axis(out.shape(), axis, outer, inner);
  const int64_t row = out.shape()[axis] * inner;
  if (row == 0 || outer == 0) return;
  float* y = out.data();
  parallel_for(0, outer, std::max<int64_t>(1, kGrain / row), [&](int64_t s, int64_t e) {
    for (int64_t o = s; o < e; ++o) {
      int64_t off = 0;
      for (const Tensor* t : in) {
        const int64_t w = t->shape()[axis] * inner;
        if (w) std::memcpy(y + o * row + off, t->data() + o * w, w * sizeof(float));
        off += w;
      }
    }
  });
}

// Each input's extent along the axis comes from its gradient buffer, else from
// the input itself (OpInfo keeps concat's inputs for this). Should neither be
// there, the unknown extents must form one contiguous run: inputs before it
// are placed from the front, inputs after it from the back.
void concat_backward(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const int axis = normalize_axis("concat", call.get<AxisAttrs>().axis, dy.rank());
  const int64_t k = static_cast<int64_t>(std::max(in.size(), din.size()));
  std::vector<int64_t> extent(k, -1);
  for (int64_t i = 0; i < k; ++i) {
    if (Tensor* d = grad(din, i)) extent[i] = d->shape()[axis];
    else if (i < static_cast<int64_t>(in.size()) && in[i]) extent[i] = in[i]->shape()[axis];
  }
  int64_t first = k, last = -1;
  for (int64_t i = 0; i < k; ++i)
    if (extent[i] < 0) first = std::min(first, i), last = i;
  std::vector<int64_t> offset(k, -1);
  for (int64_t i = 0, off = 0; i < first; off += extent[i], ++i) offset[i] = off;
  for (int64_t i = k - 1, end = dy.shape()[axis]; i > last; --i) offset[i] = (end -= extent[i]);
  int64_t outer, inner;
  split_at_axis(dy.shape(), axis, outer, inner);
  const int64_t row = dy.shape()[axis] * inner;
  for (int64_t i = 0; i < k; ++i) {
    Tensor* d = grad(din, i);
    if (!d) continue;
    if (offset[i] < 0)
      throw Error("concat: cannot place the gradient of input " + std::to_string(i) +
                  " because the extents of unwanted inputs on both sides of it are unknown");
    const int64_t w = extent[i] * inner, off = offset[i] * inner;
    if (w == 0) continue;
    const float* g = dy.data();
    float* dst = d->data();
    parallel_for(0, outer, std::max<int64_t>(1, kGrain / w), [&](int64_t s, int64_t e) {
      for (int64_t o = s; o < e; ++o) std::memcpy(dst + o * w, g + o * row + off, w * sizeof(float));
    });
  }
}

void reshape_forward(const OpCall&, const Inputs& in, Tensor& out) {
  copy_parallel(in[0]->data(), out.data(), out.numel());
}

void reshape_backward(const OpCall&, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (Tensor* d = grad(din, 0)) copy_parallel(dy.data(), d->data(), d->numel());
}

}  // namespace ec::cpu
