// transpose: y[i_0..i_{r-1}] = x[j] with y.shape[k] = x.shape[perm[k]].
// Backward is the transpose by the inverse permutation.
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

// Writes y = permute(x) for x of shape `xs`; rows of the output's last axis
// are split across threads.
void permute(const float* x, const Shape& xs, const std::vector<int>& perm, float* y) {
  const int r = static_cast<int>(xs.size());
  if (r == 0) {
    y[0] = x[0];
    return;
  }
  std::vector<int64_t> xstride(r, 1);
  for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * xs[d + 1];
  Shape ys(r);
  std::vector<int64_t> step(r);  // x offset per unit step along output axis d
  for (int d = 0; d < r; ++d) {
    ys[d] = xs[perm[d]];
    step[d] = xstride[perm[d]];
  }
  const int64_t inner = ys[r - 1], rows = shape_numel(ys) / std::max<int64_t>(inner, 1);
  if (inner == 0) return;
  parallel_for(0, rows, std::max<int64_t>(1, 4096 / inner), [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(r, 0);
    for (int64_t row = b; row < e; ++row) {
      int64_t rem = row, off = 0;
      for (int d = r - 2; d >= 0; --d) {
        off += (rem % ys[d]) * step[d];
        rem /= ys[d];
      }
      float* out = y + row * inner;
      const int64_t s = step[r - 1];
      for (int64_t i = 0; i < inner; ++i) out[i] = x[off + i * s];
    }
  });
}

}  // namespace

void transpose_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  permute(in[0]->data(), in[0]->shape(), call.get<TransposeAttrs>().perm, out.data());
}

void transpose_backward(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const auto& perm = call.get<TransposeAttrs>().perm;
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int>(i);
  permute(dy.data(), dy.shape(), inv, din[0]->data());
}

}  // namespace ec::cpu
