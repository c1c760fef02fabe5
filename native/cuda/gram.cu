// Gram matrix on the GPU: F[N,H,W,C] -> G[N,C,C] = F_n^T F_n / (H*W).
//
// Forward: one batched GEMM with A = F^T (read transposed by the A loader),
// K = H*W split across blocks when C*C gives too few tiles (typical: C = 64,
// H*W = 50K). Backward: dF = F (dG + dG^T) / (H*W), after a small kernel
// forms the symmetric sum (the loss need not treat G as symmetric).
#include "gemm.cuh"
#include "reduce.cuh"

namespace ec::cuda {

namespace {

__global__ void gram_sym_kernel(const float* g, float* s, int64_t c, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t b = i / (c * c), r = i % (c * c), row = r / c, col = r % c;
    s[i] = g[i] + g[b * c * c + col * c + row];
  }
}

}  // namespace

void gram_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (n == 0 || c == 0) return;
  if (n > 65535) throw Error("gram: batch of " + std::to_string(n) + " exceeds the CUDA grid");
  GemmA a;
  a.kind = AKind::Cols;  // A(i, k) = F[k * C + i]: F^T
  a.p = f.data(), a.ld = c, a.stride_z = p * c;
  GemmArgs m;
  m.M = c, m.N = c, m.K = p, m.batch = static_cast<int>(n);
  m.b = f.data(), m.ldb = c, m.b_z = p * c;
  m.c = out.data(), m.ldc = c, m.c_z = c * c, m.c_total = n * c * c;
  m.alpha = 1.f / static_cast<float>(p);
  gemm_cuda(a, m);
}

void gram_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  Tensor* df = grad_at(din, 0);
  if (!df || df->numel() == 0) return;
  const Tensor& f = *in[0];
  const int64_t n = f.dim(0), p = f.dim(1) * f.dim(2), c = f.dim(3);
  if (n > 65535) throw Error("gram: batch of " + std::to_string(n) + " exceeds the CUDA grid");
  Tensor sym = scratch(n * c * c);
  gram_sym_kernel<<<blocks_for(n * c * c), kThreads, 0, stream()>>>(dy.data(), sym.data(), c, n * c * c);
  EC_CUDA_LAUNCH_CHECK();
  GemmA a;
  a.kind = AKind::Rows;
  a.p = f.data(), a.ld = c, a.stride_z = p * c;
  GemmArgs m;
  m.M = p, m.N = c, m.K = c, m.batch = static_cast<int>(n);
  m.b = sym.data(), m.ldb = c, m.b_z = c * c;
  m.c = df->data(), m.ldc = c, m.c_z = p * c, m.c_total = n * p * c;
  m.alpha = 1.f / static_cast<float>(p);
  gemm_cuda(a, m);
}

}  // namespace ec::cuda
