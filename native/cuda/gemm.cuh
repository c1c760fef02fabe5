// The tiled SGEMM behind conv2d, dense and gram (plain C++ declarations).
//
//   C[z][i, j] = alpha * sum_k A[z](i, k) * B[z][k, j] (+ bias[z][j])
//
// B is row-major (ldb); C is row-major (ldc); z indexes a batch (gram's
// images) or a conv group. A is described by GemmA: a plain matrix (stored
// row-major, or transposed) or one of the implicit convolution matrices,
// gathered on the fly from NHWC tensors so no im2col buffer exists:
//   ConvFwd: A(m, (tap, c))   = x at output pixel m's tap (forward, M = N*OH*OW)
//   ConvDx:  A(p, (tap, j))   = dy of the output pixel that reads input pixel p
//                               through tap (dX, M = N*H*W)
//   ConvDw:  A((tap, c), m)   = the ConvFwd matrix transposed (dW, K = N*OH*OW)
// Where the C grid is too small to fill the GPU the K range is split across
// blocks into scratch and the splits are added in a fixed order (deterministic).
#pragma once
#include "common.cuh"

namespace ec::cuda {

// Resolved conv2d geometry (see native/cpu/conv2d.cc); dims fit in int.
struct ConvGeom {
  int N, H, W, C, KH, KW, Cg, Cout, Og, G, OH, OW;
  int sh, sw, dh, dw, pt, pl;
};

enum class AKind { Rows, Cols, ConvFwd, ConvDx, ConvDw };

struct GemmA {
  AKind kind = AKind::Rows;
  const float* p = nullptr;  // Rows: A(i,k) = p[z*stride_z + i*ld + k]; Cols: p[z*stride_z + k*ld + i];
  int64_t ld = 0, stride_z = 0;  // Conv*: x (ConvFwd, ConvDw) or dy (ConvDx)
  ConvGeom conv{};
};

struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  int batch = 1;  // z = 0..batch-1
  const float* b = nullptr;
  int64_t ldb = 0, b_z = 0;
  float* c = nullptr;
  int64_t ldc = 0, c_z = 0;
  int64_t c_total = 0;  // floats spanned by C over all z (contiguous), for split-K scratch
  const float* bias = nullptr;  // indexed by column, bias + z*bias_z; requires C rows of ldc == bias period
  int64_t bias_z = 0;
  float alpha = 1.f;
  // Clamps each output to [lo, hi] as it is written (a fused ReLU or clip).
  bool clamp = false;
  float lo = 0.f, hi = 0.f;
};

// Clamps n floats at p to [lo, hi] on this thread's stream (the fused
// activation where a kernel cannot apply it as it writes).
void clamp_cuda(float* p, int64_t n, float lo, float hi);

void gemm_cuda(const GemmA& a, const GemmArgs& g);

}  // namespace ec::cuda
