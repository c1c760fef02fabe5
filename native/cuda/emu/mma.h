// The CUDA emulator's WMMA (nvcuda::wmma) for the TF32 shapes native/cuda
// uses. A fragment belongs to a warp; here every lane holds the whole tile
// and computes the whole product, so each lane ends with what the warp holds
// between them. Code that touches fragment elements only through
// num_elements loops (as element-wise conversions do) behaves the same.
// __float_to_tf32 rounds to 10 mantissa bits, to nearest with ties away from
// zero, as cvt.rna.tf32.f32 does; products are then exact in fp32 and sums run
// in fp32 in k order.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cuda_runtime.h"

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K>
struct tile_size;
template <int M, int N, int K>
struct tile_size<matrix_a, M, N, K> {
  static constexpr int rows = M, cols = K;
};
template <int M, int N, int K>
struct tile_size<matrix_b, M, N, K> {
  static constexpr int rows = K, cols = N;
};
template <int M, int N, int K>
struct tile_size<accumulator, M, N, K> {
  static constexpr int rows = M, cols = N;
};

// Elements in row-major order of the tile.
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int rows = tile_size<Use, M, N, K>::rows, cols = tile_size<Use, M, N, K>::cols;
  static constexpr int num_elements = rows * cols;
  float x[num_elements];
};

inline float __float_to_tf32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {  // finite: round the 13 dropped bits, ties away
    u += 0x1000u;
    u &= 0xffffe000u;
  }
  std::memcpy(&f, &u, 4);
  return f;
}

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& a, const float* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      a.x[r * F::cols + c] = std::is_same<Layout, col_major>::value ? p[r + c * ldm] : p[r * ldm + c];
}

template <int M, int N, int K>
void fill_fragment(fragment<accumulator, M, N, K, float>& c, float v) {
  for (float& e : c.x) e = v;
}

template <int M, int N, int K, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, precision::tf32, LA>& a,
              const fragment<matrix_b, M, N, K, precision::tf32, LB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  fragment<accumulator, M, N, K, float> out;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; ++k) s += a.x[i * K + k] * b.x[k * N + j];
      out.x[i * N + j] = s;
    }
  d = out;
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& c, unsigned ldm, layout_t layout) {
  for (int r = 0; r < M; ++r)
    for (int col = 0; col < N; ++col)
      (layout == mem_row_major ? p[r * ldm + col] : p[r + col * ldm]) = c.x[r * N + col];
}

}  // namespace wmma
}  // namespace nvcuda
