// Gram matrix for style losses: F[N,H,W,C] -> G[N,C,C] = F_n^T F_n / (H*W).
//
// Each batch item is a row-major [P=H*W, C] matrix, so both directions are a
// single GEMM per item: forward G = F^T F (trans_a), backward
// dF = F (dG + dG^T) because G is symmetric in F. The 1/P scale rides in alpha.
#include <vector>

#include "gemm.h"
#include "kernels.h"

namespace ec::cpu {

void gram_forward(const OpCall&, const Inputs& in, Tensor& out) {
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (c == 0 || n == 0) return;
  const float scale = 1.f / static_cast<float>(p);
  for (int64_t b = 0; b < n; ++b) {
    const float* fb = f.data() + b * p * c;
    // op(A) = F^T is C x P (A stored as P x C, lda = C); op(B) = F is P x C.
    gemm(true, false, c, c, p, scale, fb, c, fb, c, 0.f, out.data() + b * c * c, c);
  }
}

void gram_backward(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* df = din.empty() ? nullptr : din[0];
  if (!df) return;
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (df->numel() == 0) return;
  const float scale = 1.f / static_cast<float>(p);
  std::vector<float> sym(c * c);
  for (int64_t b = 0; b < n; ++b) {
    const float* g = dy.data() + b * c * c;
    // dG + dG^T: the loss may not treat G as symmetric, so both halves count.
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < c; ++j) sym[i * c + j] = g[i * c + j] + g[j * c + i];
    gemm(false, false, p, c, c, scale, f.data() + b * p * c, c, sym.data(), c, 0.f, df->data() + b * p * c, c);
  }
}

}  // namespace ec::cpu
