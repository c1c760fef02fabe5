// dense (fully connected) on the GPU: x [..., In] (leading dims flattened into
// rows), w [In, Out], optional bias [Out], y = x w + b. Every product goes
// through the tiled SGEMM: dx = dy w^T (over a transposed copy of w, so B
// tiles load contiguously), dw = x^T dy (x read transposed by the A loader,
// K split over rows when the filter is small), db = column sums of dy.
#include "gemm.cuh"
#include "reduce.cuh"

namespace ec::cuda {

namespace {
int64_t leading_rows(const Tensor& x) { return shape_numel(Shape(x.shape().begin(), x.shape().end() - 1)); }
}  // namespace

void dense_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) {
  const Tensor &x = *in[0], &w = *in[1];
  const int64_t in_f = w.dim(0), out_f = w.dim(1), rows = leading_rows(x);
  GemmA a;
  a.kind = AKind::Rows;
  a.p = x.data(), a.ld = in_f;
  GemmArgs m;
  m.M = rows, m.N = out_f, m.K = in_f;
  m.b = w.data(), m.ldb = out_f;
  m.c = out.data(), m.ldc = out_f, m.c_total = rows * out_f;
  m.bias = opt_input(in, 2);
  gemm_cuda(a, m);
}

void dense_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dyt, const Grads& din) {
  const Tensor &x = *in[0], &w = *in[1];
  const int64_t in_f = w.dim(0), out_f = w.dim(1), rows = leading_rows(x);
  const float* dy = dyt.data();
  if (Tensor* dx = grad_at(din, 0)) {
    if (out_f == 0) {
      fill_cuda(dx->data(), dx->numel(), 0.f);
    } else {
      Tensor wt = scratch(w.numel());
      permute_cuda(w.data(), w.shape(), {1, 0}, wt.data());
      GemmA a;
      a.kind = AKind::Rows;
      a.p = dy, a.ld = out_f;
      GemmArgs m;
      m.M = rows, m.N = in_f, m.K = out_f;
      m.b = wt.data(), m.ldb = in_f;
      m.c = dx->data(), m.ldc = in_f, m.c_total = rows * in_f;
      gemm_cuda(a, m);
    }
  }
  if (Tensor* dw = grad_at(din, 1)) {
    GemmA a;
    a.kind = AKind::Cols;  // A(i, k) = x[k * In + i]: x^T
    a.p = x.data(), a.ld = in_f;
    GemmArgs m;
    m.M = in_f, m.N = out_f, m.K = rows;
    m.b = dy, m.ldb = out_f;
    m.c = dw->data(), m.ldc = out_f, m.c_total = in_f * out_f;
    gemm_cuda(a, m);
  }
  if (Tensor* db = grad_at(din, 2)) column_sums_cuda(dy, rows, out_f, db->data());
}

}  // namespace ec::cuda
