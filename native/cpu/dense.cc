// dense (fully connected) on the CPU.
//
// Layouts: x [..., In] (all leading dimensions flattened into rows), w [In, Out]
// row-major, optional bias b [Out], y [..., Out]. y = x * w + b; backward
// dx = dy * w^T, dw = x^T * dy, db = column sums of dy. All products go
// through the blocked gemm.
#include <algorithm>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {
// Rows of the flattened input: the product of all but the last dimension.
int64_t leading_rows(const Tensor& x) { return shape_numel(Shape(x.shape().begin(), x.shape().end() - 1)); }
}  // namespace

void dense_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const Tensor &x = *in[0], &w = *in[1];
  const int64_t in_f = w.dim(0), out_f = w.dim(1);
  const int64_t rows = leading_rows(x);
  float* y = out.data();
  const float* bias = in.size() > 2 && in[2] ? in[2]->data() : nullptr;
  if (bias) {
    // Start every row at the bias and let the product accumulate onto it.
    parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out_f)), [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) std::copy(bias, bias + out_f, y + r * out_f);
    });
  }
  gemm(false, false, rows, out_f, in_f, 1.f, x.data(), in_f, w.data(), out_f, bias ? 1.f : 0.f, y, out_f);
}

void dense_backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dyt, const Grads& din) {
  const Tensor &x = *in[0], &w = *in[1];
  const int64_t in_f = w.dim(0), out_f = w.dim(1);
  const int64_t rows = leading_rows(x);
  const float* dy = dyt.data();
  if (din.size() > 0 && din[0])  // dx = dy * w^T
    gemm(false, true, rows, in_f, out_f, 1.f, dy, out_f, w.data(), out_f, 0.f, din[0]->data(), in_f);
  if (din.size() > 1 && din[1])  // dw = x^T * dy
    gemm(true, false, in_f, out_f, rows, 1.f, x.data(), in_f, dy, out_f, 0.f, din[1]->data(), out_f);
  if (din.size() > 2 && din[2]) {
    // db = column sums of dy, in double so long batches do not lose low bits.
    std::vector<double> acc(static_cast<size_t>(out_f), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out_f; ++j) acc[j] += dy[r * out_f + j];
    float* db = din[2]->data();
    for (int64_t j = 0; j < out_f; ++j) db[j] = static_cast<float>(acc[j]);
  }
}

}  // namespace ec::cpu
