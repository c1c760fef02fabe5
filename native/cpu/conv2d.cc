// conv2d on the CPU.
//
// Layouts: x NHWC [N,H,W,Cin], filter HWIO [KH,KW,Cg,Cout] with Cg = Cin/groups,
// optional bias [Cout], y NHWC [N,OH,OW,Cout]. Group g reads input channels
// [g*Cg, (g+1)*Cg) and writes output channels [g*Og, (g+1)*Og), Og = Cout/groups.
//
// Method: im2col + GEMM. Output pixels (rows) are processed in chunks; a
// chunk's patches are unrolled into a [rows, groups*KH*KW*Cg] buffer whose
// columns are ordered (g, kh, kw, c), so group g's patch matrix is a plain
// strided sub-matrix and its product with the filter slice (the
// (KH*KW*Cg) x Og block of the HWIO filter at column g*Og, row stride Cout)
// lands directly in y's columns g*Og with ldc = Cout. 1x1 stride-1 unpadded
// convs use x itself as the patch matrix (and dx as dcols); depthwise convs
// (Cg == Og == 1) run a direct kernel, their per-group GEMMs being 1 wide.
//
// Backward: dcols = dY_g * W_g^T then col2im (scatter-add into dx);
// dW_g = cols_g^T * dY_g accumulated over chunks; db = sum of dY over pixels.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"
#include "winograd.h"

namespace ec::cpu {

void apply_epilogue(const Epilogue& ep, float* y, int64_t n);

namespace {

// Patch-buffer size per chunk, in floats: aim for 4 MB (the chunk is still
// warm in cache when the GEMM reads it) but take at least kMinChunkRows rows,
// since every chunk repacks the filter, and never exceed the chunk's share of
// the workspace (patches and their gradients, one chunk per thread).
constexpr int64_t kColsBudget = int64_t{1} << 20;
constexpr int64_t kMinChunkRows = 512;
int64_t cols_max() { return std::max<int64_t>(kColsBudget / 4, workspace_cap_bytes() / 4 / 2 / num_threads()); }

struct Conv {
  int64_t N, H, W, C, KH, KW, Cg, Cout, Og, G, OH, OW;
  int64_t sh, sw, dh, dw, pt, pl;
  int64_t kkc() const { return KH * KW * Cg; }  // patch columns per group
  int64_t ld() const { return G * kkc(); }      // patch row length
  int64_t rows() const { return N * OH * OW; }
  bool pointwise() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && OH == H && OW == W && !pt && !pl; }
  bool depthwise() const { return Cg == 1 && Og == 1; }
  // Whole output lines per chunk, and enough of them that chunks two apart
  // never read the same input row (col2im relies on both), within the budget.
  int64_t chunk_rows() const {
    const int64_t l = std::max<int64_t>(1, ld());
    const int64_t want = std::min(std::max(kMinChunkRows, kColsBudget / l), cols_max() / l);
    const int64_t min_lines = ((KH - 1) * dh + 1 + sh - 1) / sh;
    return std::min(rows(), std::max(min_lines, want / OW) * OW);
  }
};

// Resolves the geometry exactly as infer_shape does.
Conv make_conv(const OpCall& call, const Shape& x, const Shape& w) {
  const auto& a = call.get<Conv2dAttrs>();
  const Geometry2d g = conv2d_geometry(call, x, w);
  return {x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], w[3] / a.groups, a.groups, g.out_h, g.out_w,
          g.stride_h, g.stride_w, g.dilation_h, g.dilation_w, g.pad_top, g.pad_left};
}

// Per-thread scratch (the workspace) so repeated calls reuse warm pages.
float* scratch(int slot, int64_t n) { return workspace(slot, n); }

// Copies / zeroes n floats with fixed-size moves the compiler inlines: the
// runs here are often a few floats (3-channel images), where a libc call per
// run would cost more than the copy.
inline void copy_floats(float* d, const float* s, int64_t n) {
  for (; n >= 16; n -= 16, d += 16, s += 16) std::memcpy(d, s, 64);
  if (n & 8) std::memcpy(d, s, 32), d += 8, s += 8;
  if (n & 4) std::memcpy(d, s, 16), d += 4, s += 4;
  if (n & 2) std::memcpy(d, s, 8), d += 2, s += 2;
  if (n & 1) *d = *s;
}
inline void zero_floats(float* d, int64_t n) {
  static const float zeros[16] = {};
  for (; n >= 16; n -= 16, d += 16) std::memcpy(d, zeros, 64);
  copy_floats(d, zeros, n);
}

// Calls f(tap, ih, iw) for each tap (kh * KW + kw) of output pixel (oh, ow) that lands inside the image.
template <class F>
inline void for_taps(const Conv& c, int64_t oh, int64_t ow, F f) {
  for (int64_t kh = 0; kh < c.KH; ++kh) {
    const int64_t ih = oh * c.sh - c.pt + kh * c.dh;
    if (ih < 0 || ih >= c.H) continue;
    for (int64_t kw = 0; kw < c.KW; ++kw) {
      const int64_t iw = ow * c.sw - c.pl + kw * c.dw;
      if (iw >= 0 && iw < c.W) f(kh * c.KW + kw, ih, iw);
    }
  }
}

// Grain for row loops: aim for ~32K floats of work per task.
int64_t row_grain(int64_t per_row) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_row)); }

// Unrolls the patches of output rows [r0, r1) into cols (row length c.ld()).
void im2col(const Conv& c, const float* x, int64_t r0, int64_t r1, float* cols) {
  const int64_t ld = c.ld(), kkc = c.kkc();
  parallel_for(r0, r1, row_grain(ld), [&](int64_t a, int64_t b) {
    // (n, oh, ow) of row a, then stepped row by row (no divisions per row:
    // with 3-channel images a row is only a few short copies).
    int64_t n = a / (c.OH * c.OW), oh = a / c.OW % c.OH, ow = a % c.OW - 1;
    for (int64_t r = a; r < b; ++r) {
      if (++ow == c.OW) {
        ow = 0;
        if (++oh == c.OH) oh = 0, ++n;
      }
      float* dst = cols + (r - r0) * ld;
      if (c.G > 1 || c.dw > 1) {
        zero_floats(dst, ld);  // taps outside the image stay zero
        for_taps(c, oh, ow, [&](int64_t tap, int64_t ih, int64_t iw) {
          const float* src = x + ((n * c.H + ih) * c.W + iw) * c.C;
          for (int64_t g = 0; g < c.G; ++g) copy_floats(dst + g * kkc + tap * c.Cg, src + g * c.Cg, c.Cg);
        });
        continue;
      }
      // Taps kw = 0..KW-1 are adjacent pixels: per kh, one copy for the in-bounds run.
      const int64_t iw0 = ow * c.sw - c.pl;
      const int64_t lo = std::clamp<int64_t>(-iw0, 0, c.KW), hi = std::clamp<int64_t>(c.W - iw0, lo, c.KW);
      for (int64_t kh = 0; kh < c.KH; ++kh) {
        const int64_t ih = oh * c.sh - c.pt + kh * c.dh;
        float* d = dst + kh * c.KW * c.C;
        if (ih < 0 || ih >= c.H) {
          zero_floats(d, c.KW * c.C);
          continue;
        }
        zero_floats(d, lo * c.C);
        if (hi > lo) copy_floats(d + lo * c.C, x + ((n * c.H + ih) * c.W + iw0 + lo) * c.C, (hi - lo) * c.C);
        zero_floats(d + hi * c.C, (c.KW - hi) * c.C);
      }
    }
  });
}

// The patch matrix of rows [r0, r1): for 1x1 stride-1 unpadded convs its
// layout (g, c) is x's own, so x is used in place; else im2col into scratch.
const float* patches(const Conv& c, const float* x, int64_t r0, int64_t r1) {
  if (c.pointwise()) return x + r0 * c.C;
  float* cols = scratch(kSlotCols, c.chunk_rows() * c.ld());
  im2col(c, x, r0, r1, cols);
  return cols;
}

// dx += scatter of dcols rows [r0, r1), which hold whole output lines (r0 and
// r1 are multiples of OW). Output lines are cut into bands tall enough that
// bands two apart never touch the same input row; even bands run in parallel,
// then odd ones, so no two threads add into the same dx element.
void col2im(const Conv& c, const float* dcols, int64_t r0, int64_t r1, float* dx) {
  const int64_t ld = c.ld(), kkc = c.kkc();
  const int64_t line0 = r0 / c.OW, lines = (r1 - r0) / c.OW;
  const int64_t span = (c.KH - 1) * c.dh + 1;
  const int64_t band = std::max((span + c.sh - 1) / c.sh, lines / (8 * num_threads()));
  const int64_t bands = (lines + band - 1) / band;
  auto scatter_row = [&](int64_t r) {
    const int64_t n = r / (c.OH * c.OW), oh = r / c.OW % c.OH, ow = r % c.OW;
    const float* src = dcols + (r - r0) * ld;
    if (c.G > 1 || c.dw > 1) {
      for_taps(c, oh, ow, [&](int64_t tap, int64_t ih, int64_t iw) {
        for (int64_t g = 0; g < c.G; ++g) {
          float* __restrict d = dx + ((n * c.H + ih) * c.W + iw) * c.C + g * c.Cg;
          const float* __restrict s = src + g * kkc + tap * c.Cg;
          for (int64_t ci = 0; ci < c.Cg; ++ci) d[ci] += s[ci];
        }
      });
      return;
    }
    // Taps kw = 0..KW-1 are adjacent pixels: one add per kh over the in-bounds run.
    const int64_t iw0 = ow * c.sw - c.pl;
    const int64_t lo = std::clamp<int64_t>(-iw0, 0, c.KW), hi = std::clamp<int64_t>(c.W - iw0, lo, c.KW);
    for (int64_t kh = 0; kh < c.KH; ++kh) {
      const int64_t ih = oh * c.sh - c.pt + kh * c.dh;
      if (ih < 0 || ih >= c.H) continue;
      float* __restrict d = dx + ((n * c.H + ih) * c.W + iw0 + lo) * c.C;
      const float* __restrict s = src + (kh * c.KW + lo) * c.C;
      for (int64_t i = 0; i < (hi - lo) * c.C; ++i) d[i] += s[i];
    }
  };
  for (int parity = 0; parity < 2; ++parity)
    parallel_for(0, (bands - parity + 1) / 2, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t first = line0 + (2 * b + parity) * band, last = std::min(line0 + lines, first + band);
        for (int64_t r = first * c.OW; r < last * c.OW; ++r) scatter_row(r);
      }
    });
}

// out[j] = sum over rows of m[row * cols + j]: float partial sums over row
// blocks, added in double. Also reduces per-task partial filters.
void column_sums(const float* m, int64_t rows, int64_t cols, float* out) {
  const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(rows / 256, 4 * num_threads()));
  std::vector<float> part(static_cast<size_t>(tasks * cols), 0.f);
  parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* __restrict acc = part.data() + t * cols;
      for (int64_t r = rows * t / tasks; r < rows * (t + 1) / tasks; ++r)
        for (int64_t j = 0; j < cols; ++j) acc[j] += m[r * cols + j];
    }
  });
  for (int64_t j = 0; j < cols; ++j) {
    double s = 0;
    for (int64_t t = 0; t < tasks; ++t) s += part[t * cols + j];
    out[j] = static_cast<float>(s);
  }
}

// Rows of y start as the bias (the GEMMs then accumulate) or are left to be overwritten.
void fill_bias(float* y, int64_t rows, int64_t cout, const float* bias) {
  parallel_for(0, rows, row_grain(cout), [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) copy_floats(y + r * cout, bias, cout);
  });
}

// Depthwise forward: a direct NHWC kernel vectorized across channels. Each
// output row (n, oh) takes the contiguous range of kernel rows that land in
// the image; its output pixels split into a left border, an interior whose
// taps all land inside the image (no bounds checks, KW == 3 unrolled) and a
// right border. Per pixel, channel blocks of VW (then VW/2) floats keep one
// accumulator in a register across all taps; leftover channels run scalar.
// Instantiated per ISA like the GEMM micro-kernel, picked at run time.
#define EC_DW_INLINE inline __attribute__((always_inline))
// The vector helpers are always inlined, so the ABI note does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

template <int VW>
struct DwVec {
  typedef float type __attribute__((vector_size(VW * 4)));
};

template <int VW>
EC_DW_INLINE typename DwVec<VW>::type dw_load(const float* p) {
  typename DwVec<VW>::type v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <int VW>
EC_DW_INLINE void dw_store(float* p, typename DwVec<VW>::type v) {
  std::memcpy(p, &v, sizeof v);
}

// The fused activation applied to a vector or a value before its store, with
// the relu and clip kernels' comparisons (a NaN stays NaN through clip, and
// relu maps it to 0, as apply_epilogue does).
template <int VW>
EC_DW_INLINE typename DwVec<VW>::type act(typename DwVec<VW>::type v, const Epilogue& ep) {
  using V = typename DwVec<VW>::type;
  if (ep.kind == Epilogue::Kind::Relu) return v > V{} ? v : V{};
  if (ep.kind == Epilogue::Kind::Clip) {
    const V lo = V{} + ep.lo, hi = V{} + ep.hi;
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
  }
  return v;
}
EC_DW_INLINE float act1(float v, const Epilogue& ep) {
  if (ep.kind == Epilogue::Kind::Relu) return v > 0.f ? v : 0.f;
  if (ep.kind == Epilogue::Kind::Clip) {
    v = v < ep.lo ? ep.lo : v;
    return v > ep.hi ? ep.hi : v;
  }
  return v;
}

// One output pixel, channels [ch, ch + VW): kernel rows [kh0, kh1), columns
// [kw0, kw1) (KWF > 0: exactly KWF columns from 0). xp points at input pixel
// (ih(kh0), iw(kw = 0)) channel ch, which may lie outside the image when
// kw0 > 0: only in-range taps are read.
template <int VW, int KWF>
EC_DW_INLINE void dw_block(const float* xp, const float* wp, const float* bp, float* yp, int64_t kh0, int64_t kh1,
                           int64_t kw0, int64_t kw1, int64_t xrow, int64_t xcol, int64_t wrow, int64_t C,
                           const Epilogue& ep) {
  using V = typename DwVec<VW>::type;
  V acc = bp ? dw_load<VW>(bp) : V{};
  for (int64_t kh = kh0; kh < kh1; ++kh, xp += xrow, wp += wrow) {
    if constexpr (KWF > 0) {
#pragma GCC unroll 8
      for (int kw = 0; kw < KWF; ++kw) acc += dw_load<VW>(xp + kw * xcol) * dw_load<VW>(wp + kw * C);
    } else {
      for (int64_t kw = kw0; kw < kw1; ++kw) acc += dw_load<VW>(xp + kw * xcol) * dw_load<VW>(wp + kw * C);
    }
  }
  dw_store<VW>(yp, act<VW>(acc, ep));
}

template <int VW, int KWF>
EC_DW_INLINE void dw_pixel(const float* xp, const float* w, const float* bias, float* yp, int64_t kh0, int64_t kh1,
                           int64_t kw0, int64_t kw1, int64_t xrow, int64_t xcol, int64_t wrow, int64_t C,
                           const Epilogue& ep) {
  const float* wp = w + kh0 * wrow;
  int64_t ch = 0;
  for (; ch + VW <= C; ch += VW)
    dw_block<VW, KWF>(xp + ch, wp + ch, bias ? bias + ch : nullptr, yp + ch, kh0, kh1, kw0, kw1, xrow, xcol, wrow, C,
                      ep);
  if constexpr (VW >= 8) {
    if (ch + VW / 2 <= C) {
      dw_block<VW / 2, KWF>(xp + ch, wp + ch, bias ? bias + ch : nullptr, yp + ch, kh0, kh1, kw0, kw1, xrow, xcol,
                            wrow, C, ep);
      ch += VW / 2;
    }
  }
  for (; ch < C; ++ch) {
    float acc = bias ? bias[ch] : 0.f;
    const float* xq = xp + ch;
    const float* wq = wp + ch;
    for (int64_t kh = kh0; kh < kh1; ++kh, xq += xrow, wq += wrow)
      for (int64_t kw = kw0; kw < (KWF > 0 ? KWF : kw1); ++kw) acc += xq[kw * xcol] * wq[kw * C];
    yp[ch] = act1(acc, ep);
  }
}

template <int VW>
EC_DW_INLINE void dw_rows(const Conv& c, const float* x, const float* w, const float* bias, float* y, int64_t r0,
                          int64_t r1, const Epilogue& ep) {
  const int64_t C = c.C, xcol = c.dw * C, xrow = c.dh * c.W * C, wrow = c.KW * C;
  // Interior columns: every tap in the image.
  const int64_t span_w = (c.KW - 1) * c.dw;
  const int64_t ow_a = std::min(c.OW, (c.pl + c.sw - 1) / c.sw);
  const int64_t lim = c.W - 1 - span_w + c.pl;  // ow * sw <= lim
  const int64_t ow_b = lim < 0 ? ow_a : std::clamp<int64_t>(lim / c.sw + 1, ow_a, c.OW);
  for (int64_t nr = r0; nr < r1; ++nr) {
    const int64_t n = nr / c.OH, oh = nr % c.OH;
    const int64_t ih0 = oh * c.sh - c.pt;
    int64_t kh0 = 0, kh1 = c.KH;
    while (kh0 < kh1 && ih0 + kh0 * c.dh < 0) ++kh0;
    while (kh1 > kh0 && ih0 + (kh1 - 1) * c.dh >= c.H) --kh1;
    const float* xrow0 = x + (n * c.H + ih0 + kh0 * c.dh) * c.W * C;  // may point outside when kh0 == kh1
    float* yrow = y + nr * c.OW * C;
    auto border = [&](int64_t ow) {
      const int64_t iw0 = ow * c.sw - c.pl;
      int64_t kw0 = 0, kw1 = c.KW;
      while (kw0 < kw1 && iw0 + kw0 * c.dw < 0) ++kw0;
      while (kw1 > kw0 && iw0 + (kw1 - 1) * c.dw >= c.W) --kw1;
      dw_pixel<VW, 0>(xrow0 + iw0 * C, w, bias, yrow + ow * C, kh0, kh1, kw0, kw1, xrow, xcol, wrow, C, ep);
    };
    for (int64_t ow = 0; ow < ow_a; ++ow) border(ow);
    if (c.KW == 3) {
      for (int64_t ow = ow_a; ow < ow_b; ++ow)
        dw_pixel<VW, 3>(xrow0 + (ow * c.sw - c.pl) * C, w, bias, yrow + ow * C, kh0, kh1, 0, 3, xrow, xcol, wrow, C, ep);
    } else {
      for (int64_t ow = ow_a; ow < ow_b; ++ow)
        dw_pixel<VW, 0>(xrow0 + (ow * c.sw - c.pl) * C, w, bias, yrow + ow * C, kh0, kh1, 0, c.KW, xrow, xcol, wrow,
                        C, ep);
    }
    for (int64_t ow = std::max(ow_a, ow_b); ow < c.OW; ++ow) border(ow);
  }
}

__attribute__((target("avx512f,avx2,fma"))) void dw_rows_avx512(const Conv& c, const float* x, const float* w,
                                                                 const float* bias, float* y, int64_t r0, int64_t r1, const Epilogue& ep) {
  dw_rows<16>(c, x, w, bias, y, r0, r1, ep);
}
__attribute__((target("avx2,fma"))) void dw_rows_avx2(const Conv& c, const float* x, const float* w,
                                                       const float* bias, float* y, int64_t r0, int64_t r1, const Epilogue& ep) {
  dw_rows<8>(c, x, w, bias, y, r0, r1, ep);
}
void dw_rows_base(const Conv& c, const float* x, const float* w, const float* bias, float* y, int64_t r0,
                  int64_t r1, const Epilogue& ep) {
  dw_rows<4>(c, x, w, bias, y, r0, r1, ep);
}

using DwRowsFn = void (*)(const Conv&, const float*, const float*, const float*, float*, int64_t, int64_t,
                          const Epilogue&);
DwRowsFn pick_dw_rows() {
  if (isa_rank() >= 3) return dw_rows_avx512;
  if (isa_rank() >= 2) return dw_rows_avx2;
  return dw_rows_base;
}

// The fused activation is applied to each vector as it is stored.
void depthwise_forward(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                       const Epilogue& ep) {
  static const DwRowsFn rows_fn = pick_dw_rows();
  // ~256K multiply-adds per task: small layers run on the calling thread.
  const int64_t per_row = std::max<int64_t>(1, c.OW * c.C * c.KH * c.KW);
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 18) / per_row);
  const int64_t rows = c.N * c.OH;
  auto run = [&](int64_t a, int64_t b) {
    rows_fn(c, x, w, bias, y, a, b, ep);
  };
  if (rows <= grain) return run(0, rows);
  parallel_for(0, rows, grain, run);
}

// 1x1 stride-1 unpadded convs with few output channels (Cout a multiple of a
// vector width, at most 4 vectors, or up to 256 in blocks of 4 vectors): y = x * W + b directly, R rows at a time
// with the R x NV accumulator tile in registers, each x element broadcast.
// Skips the GEMM's packing, which dominates when Cout is this small.
template <int VW, int NV, int R>
EC_DW_INLINE void pw_tile(const float* x, const float* w, const float* bias, float* y, int64_t K, int64_t rows,
                          const Epilogue& ep, int64_t N = int64_t{VW} * NV) {  // N: row stride of w and y
  using V = typename DwVec<VW>::type;
  V b[NV];
  for (int j = 0; j < NV; ++j) b[j] = bias ? dw_load<VW>(bias + j * VW) : V{};
  int64_t r = 0;
  for (; r + R <= rows; r += R) {
    V acc[R][NV];
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NV; ++j) acc[i][j] = b[j];
    const float* xr = x + r * K;
    for (int64_t k = 0; k < K; ++k) {
      V wv[NV];
      for (int j = 0; j < NV; ++j) wv[j] = dw_load<VW>(w + k * N + j * VW);
      for (int i = 0; i < R; ++i) {
        const V xb = V{} + xr[i * K + k];
        for (int j = 0; j < NV; ++j) acc[i][j] += xb * wv[j];
      }
    }
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NV; ++j) dw_store<VW>(y + (r + i) * N + j * VW, act<VW>(acc[i][j], ep));
  }
  for (; r < rows; ++r) {
    V acc[NV];
    for (int j = 0; j < NV; ++j) acc[j] = b[j];
    for (int64_t k = 0; k < K; ++k) {
      const V xb = V{} + x[r * K + k];
      for (int j = 0; j < NV; ++j) acc[j] += xb * dw_load<VW>(w + k * N + j * VW);
    }
    for (int j = 0; j < NV; ++j) dw_store<VW>(y + r * N + j * VW, act<VW>(acc[j], ep));
  }
}

// Returns false when Cout has no tile shape here.
template <int VW>
EC_DW_INLINE bool pw_rows(const float* x, const float* w, const float* bias, float* y, int64_t K, int64_t N,
                          int64_t rows, const Epilogue& ep) {
  constexpr int H = VW / 2 >= 4 ? VW / 2 : VW;
  constexpr bool wide = VW >= 16;  // 32 registers: 4 x 4 tiles fit
  switch (N) {
    case VW: pw_tile<VW, 1, 4>(x, w, bias, y, K, rows, ep); return true;
    case 2 * VW: pw_tile<VW, 2, 4>(x, w, bias, y, K, rows, ep); return true;
    case 3 * VW: pw_tile<VW, 3, wide ? 4 : 3>(x, w, bias, y, K, rows, ep); return true;
    case 4 * VW: pw_tile<VW, 4, wide ? 4 : 2>(x, w, bias, y, K, rows, ep); return true;
    default: break;
  }
  // Wider: column blocks of 4 vectors (each block's x rows stay in L1).
  if (N > 4 * VW && N % (4 * VW) == 0) {
    if (rows)
      for (int64_t j0 = 0; j0 < N; j0 += 4 * VW)
        pw_tile<VW, 4, wide ? 4 : 2>(x, w + j0, bias ? bias + j0 : nullptr, y + j0, K, rows, ep, N);
    return true;
  }
  if (N == H && H != VW) {
    pw_tile<H, 1, 4>(x, w, bias, y, K, rows, ep);
    return true;
  }
  return false;
}

__attribute__((target("avx512f,avx2,fma"))) bool pw_rows_avx512(const float* x, const float* w, const float* bias,
                                                                 float* y, int64_t K, int64_t N, int64_t rows, const Epilogue& ep) {
  return pw_rows<16>(x, w, bias, y, K, N, rows, ep);
}
__attribute__((target("avx2,fma"))) bool pw_rows_avx2(const float* x, const float* w, const float* bias, float* y,
                                                       int64_t K, int64_t N, int64_t rows,
                                                       const Epilogue& ep) {
  return pw_rows<8>(x, w, bias, y, K, N, rows, ep);
}
bool pw_rows_base(const float* x, const float* w, const float* bias, float* y, int64_t K, int64_t N, int64_t rows, const Epilogue& ep) {
  return pw_rows<4>(x, w, bias, y, K, N, rows, ep);
}

using PwRowsFn = bool (*)(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t,
                          const Epilogue&);
PwRowsFn pick_pw_rows() {
  if (isa_rank() >= 3) return pw_rows_avx512;
  if (isa_rank() >= 2) return pw_rows_avx2;
  return pw_rows_base;
}

// Runs the direct 1x1 kernel when the shape suits it; false: use the GEMM.
bool pointwise_forward(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                       const Epilogue& ep) {
  static const PwRowsFn rows_fn = pick_pw_rows();
  const int64_t K = c.C, N = c.Cout, rows = c.rows();
  if (!c.pointwise() || c.G != 1 || N > 256 || K > 1024) return false;
  // Probe the shape on zero rows, then ~256K multiply-adds per task.
  if (!rows_fn(x, w, bias, y, K, N, 0, ep)) return false;
  const int64_t grain = std::max<int64_t>(16, (int64_t{1} << 18) / std::max<int64_t>(1, K * N));
  auto run = [&](int64_t a, int64_t b) {
    rows_fn(x + a * K, w, bias, y + a * N, K, N, b - a, ep);
  };
  if (rows <= grain) run(0, rows);
  else parallel_for(0, rows, grain, run);
  return true;
}

// Few input channels (a network's first conv, over RGB): a direct kernel.
// Each output pixel's Cout values are CO8 vectors of 8; P pixels of one
// output row go together, so each tap's weight vectors are loaded once for
// all P and the P * CO8 accumulators are independent (about 8 in flight).
// Taps outside the image are skipped; bias and the activation are applied
// before the store. Output rows are split over the threads.
using V8 = DwVec<8>::type;

// One kernel row's taps (input row xr) into the accumulators of P pixels from
// input column iw0; Inside: every pixel and tap lies in the image (no checks).
template <int CO8, int P, bool Inside>
EC_DW_INLINE void small_cin_taps(const Conv& c, const float* xr, const float* wr, int64_t iw0, int np,
                                 V8 (&acc)[P][CO8]) {
  const int64_t C = c.C, Cout = c.Cout;
  for (int64_t kw = 0; kw < c.KW; ++kw) {
    const float* wt = wr + kw * C * Cout;
    for (int64_t ci = 0; ci < C; ++ci) {
      V8 wv[CO8];
#pragma GCC unroll 8
      for (int j = 0; j < CO8; ++j) wv[j] = dw_load<8>(wt + ci * Cout + 8 * j);
#pragma GCC unroll 8
      for (int p = 0; p < P; ++p) {
        const int64_t iw = iw0 + p * c.sw + kw * c.dw;
        if constexpr (!Inside)
          if (p >= np || iw < 0 || iw >= c.W) continue;
        const V8 xv = V8{} + xr[iw * C + ci];
#pragma GCC unroll 8
        for (int j = 0; j < CO8; ++j) acc[p][j] += xv * wv[j];
      }
    }
  }
}

template <int CO8, int P>
EC_DW_INLINE void small_cin_pixels(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                                   int64_t n, int64_t oh, int64_t ow0, int np, const Epilogue& ep) {
  V8 acc[P][CO8];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 8
    for (int j = 0; j < CO8; ++j) acc[p][j] = bias ? dw_load<8>(bias + 8 * j) : V8{};
  const int64_t Cout = c.Cout;
  const int64_t iw0 = ow0 * c.sw - c.pl;
  const bool inside = np == P && iw0 >= 0 && iw0 + (P - 1) * c.sw + (c.KW - 1) * c.dw < c.W;
  for (int64_t kh = 0; kh < c.KH; ++kh) {
    const int64_t ih = oh * c.sh - c.pt + kh * c.dh;
    if (ih < 0 || ih >= c.H) continue;
    const float* xr = x + (n * c.H + ih) * c.W * c.C;
    const float* wr = w + kh * c.KW * c.C * Cout;
    if (inside) small_cin_taps<CO8, P, true>(c, xr, wr, iw0, np, acc);
    else small_cin_taps<CO8, P, false>(c, xr, wr, iw0, np, acc);
  }
  for (int p = 0; p < np; ++p) {
    float* yp = y + ((n * c.OH + oh) * c.OW + ow0 + p) * Cout;
#pragma GCC unroll 8
    for (int j = 0; j < CO8; ++j) dw_store<8>(yp + 8 * j, act<8>(acc[p][j], ep));
  }
}

template <int CO8>
EC_DW_INLINE void small_cin_rows(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                                 int64_t r0, int64_t r1, const Epilogue& ep) {
  constexpr int P = CO8 >= 8 ? 1 : 8 / CO8;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / c.OH, oh = r % c.OH;
    for (int64_t ow = 0; ow < c.OW; ow += P)
      small_cin_pixels<CO8, P>(c, x, w, bias, y, n, oh, ow, static_cast<int>(std::min<int64_t>(P, c.OW - ow)), ep);
  }
}

// Rows [r0, r1) of the output (n * OH + oh); false when Cout is not 8, 16, 32 or 64.
EC_DW_INLINE bool small_cin_impl(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                                 int64_t r0, int64_t r1, const Epilogue& ep) {
  switch (c.Cout) {
    case 8: small_cin_rows<1>(c, x, w, bias, y, r0, r1, ep); return true;
    case 16: small_cin_rows<2>(c, x, w, bias, y, r0, r1, ep); return true;
    case 32: small_cin_rows<4>(c, x, w, bias, y, r0, r1, ep); return true;
    case 64: small_cin_rows<8>(c, x, w, bias, y, r0, r1, ep); return true;
    default: return false;
  }
}

// Per ISA (the vector code must be compiled inside the target function).
using SmallCinFn = bool (*)(const Conv&, const float*, const float*, const float*, float*, int64_t, int64_t,
                            const Epilogue&);
__attribute__((target("avx512f,avx512vl,avx2,fma"))) bool small_cin_avx512(const Conv& c, const float* x,
                                                                         const float* w, const float* bias, float* y,
                                                                         int64_t r0, int64_t r1, const Epilogue& ep) {
  return small_cin_impl(c, x, w, bias, y, r0, r1, ep);
}
__attribute__((target("avx2,fma"))) bool small_cin_avx2(const Conv& c, const float* x, const float* w,
                                                        const float* bias, float* y, int64_t r0, int64_t r1,
                                                        const Epilogue& ep) {
  return small_cin_impl(c, x, w, bias, y, r0, r1, ep);
}

// True when the direct kernel ran: one group, at most 4 input channels and
// 8, 16, 32 or 64 output channels, on a CPU with AVX2 (else the patch path).
bool small_cin_forward(const Conv& c, const float* x, const float* w, const float* bias, float* y,
                       const Epilogue& ep) {
  static const SmallCinFn fn = isa_rank() >= 3 ? small_cin_avx512 : isa_rank() >= 2 ? small_cin_avx2 : nullptr;
  if (!fn || c.G != 1 || c.C > 4 || c.C < 1 || !(c.Cout == 8 || c.Cout == 16 || c.Cout == 32 || c.Cout == 64))
    return false;
  // About 64K multiply-adds per task.
  const int64_t total = c.N * c.OH;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(1, c.OW * c.kkc() * c.Cout));
  if (total <= grain) return fn(c, x, w, bias, y, 0, total, ep);
  parallel_for(0, total, grain, [&](int64_t a, int64_t b) { fn(c, x, w, bias, y, a, b, ep); });
  return true;
}

// A conv with one chunk of patches and a Cout the direct 1x1 kernel takes:
// im2col, then that kernel over the patch matrix, block by block. False: not taken.
bool patch_forward(const Conv& c, const float* x, const float* w, const float* bias, float* y, const Epilogue& ep) {
  static const PwRowsFn rows_fn = pick_pw_rows();
  const int64_t K = c.kkc(), N = c.Cout, rows = c.rows();
  if (N > 64 || K > 1024 || !rows_fn(x, w, bias, y, K, N, 0, ep)) return false;
  // Each task unrolls blocks of 256 rows into its own scratch and consumes
  // them at once, while they are in L1/L2 (im2col inside a task runs serially).
  constexpr int64_t kBlock = 256;
  const int64_t grain = std::max<int64_t>(kBlock, (int64_t{1} << 18) / std::max<int64_t>(1, K * N));
  auto run = [&](int64_t a, int64_t b) {
    float* cols = scratch(kSlotCols, kBlock * K);
    for (int64_t r0 = a; r0 < b; r0 += kBlock) {
      const int64_t r1 = std::min(b, r0 + kBlock);
      im2col(c, x, r0, r1, cols);
      rows_fn(cols, w, bias, y + r0 * N, K, N, r1 - r0, ep);
    }
  };
  if (rows <= grain) run(0, rows);
  else parallel_for(0, rows, grain, run);
  return true;
}

void depthwise_backward(const Conv& c, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  const int64_t C = c.C, taps = c.KH * c.KW;
  if (dx) {
    // Gather form: each input pixel sums the outputs whose windows cover it,
    // so threads own disjoint rows of dx.
    parallel_for(0, c.N * c.H, row_grain(c.W * C * taps), [&](int64_t a, int64_t b) {
      for (int64_t nr = a; nr < b; ++nr) {
        const int64_t n = nr / c.H, ih = nr % c.H;
        for (int64_t iw = 0; iw < c.W; ++iw) {
          float* __restrict d = dx + (nr * c.W + iw) * C;
          std::fill(d, d + C, 0.f);
          for (int64_t kh = 0; kh < c.KH; ++kh) {
            const int64_t th = ih + c.pt - kh * c.dh;
            if (th < 0 || th % c.sh || th / c.sh >= c.OH) continue;
            for (int64_t kw = 0; kw < c.KW; ++kw) {
              const int64_t tw = iw + c.pl - kw * c.dw;
              if (tw < 0 || tw % c.sw || tw / c.sw >= c.OW) continue;
              const float* __restrict g = dy + ((n * c.OH + th / c.sh) * c.OW + tw / c.sw) * C;
              const float* __restrict wk = w + (kh * c.KW + kw) * C;
              for (int64_t ch = 0; ch < C; ++ch) d[ch] += g[ch] * wk[ch];
            }
          }
        }
      }
    });
  }
  if (dw) {
    // Per-task partial filters over blocks of output rows, summed at the end.
    const int64_t rows = c.N * c.OH;
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(rows, 4 * num_threads()));
    std::vector<float> part(static_cast<size_t>(tasks * taps * C), 0.f);
    parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* acc = part.data() + t * taps * C;
        for (int64_t nr = rows * t / tasks; nr < rows * (t + 1) / tasks; ++nr) {
          const int64_t n = nr / c.OH, oh = nr % c.OH;
          for (int64_t ow = 0; ow < c.OW; ++ow) {
            const float* __restrict g = dy + (nr * c.OW + ow) * C;
            for_taps(c, oh, ow, [&](int64_t tap, int64_t ih, int64_t iw) {
              const float* __restrict xi = x + ((n * c.H + ih) * c.W + iw) * C;
              float* __restrict ak = acc + tap * C;
              for (int64_t ch = 0; ch < C; ++ch) ak[ch] += xi[ch] * g[ch];
            });
          }
        }
      }
    });
    column_sums(part.data(), tasks, taps * C, dw);
  }
}

// Output rows cut into chunks. With many chunks, whole chunks run concurrently
// (their own loops and GEMMs then run serially on their thread): one pool
// hand-off per pass instead of several per chunk. With few, chunks run in turn
// and their loops and GEMMs go parallel.
struct Chunks {
  int64_t rows, count, total_rows;  // rows per chunk, chunks, rows in all
  bool parallel;
};

Chunks plan_chunks(const Conv& c) {
  const int64_t rows = c.chunk_rows(), count = (c.rows() + rows - 1) / rows;
  return {rows, count, c.rows(), count >= 4 * num_threads()};
}

// Calls f(r0, r1) for chunks first, first + step, ...
template <class F>
void for_chunks(const Chunks& ch, int64_t first, int64_t step, F f) {
  const int64_t n = ch.count > first ? (ch.count - first + step - 1) / step : 0;
  auto run = [&](int64_t k) {
    const int64_t i = first + k * step;
    f(i * ch.rows, std::min(ch.total_rows, (i + 1) * ch.rows));
  };
  if (ch.parallel)
    parallel_for(0, n, 1, [&](int64_t a, int64_t b) {
      for (int64_t k = a; k < b; ++k) run(k);
    });
  else
    for (int64_t k = 0; k < n; ++k) run(k);
}

// 3x3 stride-1 convolutions: im2col + GEMM, or Winograd F(4x4, 3x3) in small
// per-thread blocks or large phased blocks (filters transformed by row, or
// all at once: see winograd.h). The first call with a shape (and
// direction) times each candidate on the real data and keeps the fastest.
enum Algo { kAuto = -1, kIm2col = 0, kWinoSmall = 1, kWinoLarge = 2, kWinoWhole = 3 };

std::atomic<int>& forced_algo() {
  static std::atomic<int> a{[] {
    const char* e = std::getenv("EYECANDY_CONV_ALGO");
    const std::string v = e ? e : "";
    return v == "im2col" ? kIm2col : v == "winograd" ? kWinoLarge : kAuto;
  }()};
  return a;
}

bool wino_eligible(const Conv& c) {
  return c.KH == 3 && c.KW == 3 && c.sh == 1 && c.sw == 1 && c.dh == 1 && c.dw == 1 && c.G == 1 && c.C > 0;
}
WinoConv wino_forward(const Conv& c) { return {c.N, c.H, c.W, c.C, c.OH, c.OW, c.Cout, c.pt, c.pl}; }
// dx[ih] = sum over kh of dy[ih - (2 - pt) + kh] * w[2 - kh]: a conv of dy.
WinoConv wino_backward(const Conv& c) { return {c.N, c.OH, c.OW, c.Cout, c.H, c.W, c.C, 2 - c.pt, 2 - c.pl}; }

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int>;
std::mutex plan_mu;
std::map<PlanKey, int>& plan_cache() {
  static std::map<PlanKey, int> m;
  return m;
}

// run(algo, plan) computes the whole result (overwriting its destination).
template <class Run>
void run_planned(const WinoConv& wc, bool backward, Run run) {
  const WinoPlan plans[4] = {{}, wino_plan_small(wc), wino_plan_large(wc), wino_plan_whole(wc)};
  auto ok = [&](int a) { return a == kIm2col || plans[a].block > 0; };
  const int forced = forced_algo().load();
  if (forced != kAuto) return run(ok(forced) ? forced : kIm2col, plans[ok(forced) ? forced : 0]);
  const PlanKey key{wc.N, wc.IH, wc.IW, wc.C, wc.OH, wc.OW, wc.K, wc.pt, wc.pl, backward};
  {
    std::lock_guard<std::mutex> lk(plan_mu);
    auto it = plan_cache().find(key);
    if (it != plan_cache().end()) {
      const int a = it->second;
      return run(a, plans[a]);
    }
  }
  std::vector<int> cand{kIm2col};
  if (ok(kWinoLarge)) cand.push_back(kWinoLarge);
  if (ok(kWinoWhole)) cand.push_back(kWinoWhole);
  // Small blocks differ from the large schedule only when there are several per thread.
  if (ok(kWinoSmall) && (!ok(kWinoLarge) || plans[kWinoSmall].block * num_threads() < wc.tiles()))
    cand.push_back(kWinoSmall);
  int best = kIm2col, last = -1;
  if (cand.size() > 1) {
    double best_s = 1e30;
    for (int round = 0; round < 2; ++round) {
      for (int a : cand) {
        const auto t0 = std::chrono::steady_clock::now();
        run(a, plans[a]);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        last = a;
        if (s < best_s) best_s = s, best = a;
      }
      // Large layers: one timing each is enough. Below that, the second
      // round's (warm) timings decide: a first run that grows the workspace
      // (tens of MB of fresh pages) can take several times its steady time.
      if (best_s > 0.2) break;
    }
  }
  {
    std::lock_guard<std::mutex> lk(plan_mu);
    if (plan_cache().size() > 4096) plan_cache().clear();
    plan_cache()[key] = best;
  }
  if (best != last) run(best, plans[best]);
}

}  // namespace

void set_conv_algo(int algo) { forced_algo().store(algo < kAuto || algo > kWinoWhole ? kAuto : algo); }

// Applies a fused activation to n values in place (see Epilogue in ops.h),
// with exactly the relu and clip kernels' comparisons (NaN included).
void apply_epilogue(const Epilogue& ep, float* y, int64_t n) {
  if (ep.kind == Epilogue::Kind::Relu) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : 0.f;
  } else if (ep.kind == Epilogue::Kind::Clip) {
    const float lo = ep.lo, hi = ep.hi;
    for (int64_t i = 0; i < n; ++i) {
      const float v = y[i] < lo ? lo : y[i];
      y[i] = v > hi ? hi : v;
    }
  }
}

void conv2d_forward(const OpCall& call, const Inputs& in, Tensor& out) { conv2d_forward(call, in, out, Epilogue{}); }

void conv2d_forward(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep) {
  const WorkspaceScope lease;
  const Tensor &xt = *in[0], &wt = *in[1];
  const Conv c = make_conv(call, xt.shape(), wt.shape());
  const float *x = xt.data(), *w = wt.data();
  const float* bias = in.size() > 2 && in[2] ? in[2]->data() : nullptr;
  float* y = out.data();
  if (c.rows() == 0 || c.Cout == 0) return;
  bool direct = c.depthwise();
  if (direct) depthwise_forward(c, x, w, bias, y, ep);
  else direct = pointwise_forward(c, x, w, bias, y, ep) || small_cin_forward(c, x, w, bias, y, ep);
  if (direct) return;  // the direct kernels apply the activation as they go

  auto im2col_forward = [&] {
    const float beta = bias ? 1.f : 0.f;  // the bias pre-filled into y, or nothing
    const int64_t ld = c.ld(), kkc = c.kkc();
    const Chunks ch = plan_chunks(c);
    for_chunks(ch, 0, 1, [&](int64_t r0, int64_t r1) {
      float* yc = y + r0 * c.Cout;
      if (bias) fill_bias(yc, r1 - r0, c.Cout, bias);
      const float* cols = patches(c, x, r0, r1);
      for (int64_t g = 0; g < c.G; ++g)
        gemm(false, false, r1 - r0, c.Og, kkc, 1.f, cols + g * kkc, ld, w + g * c.Og, c.Cout, beta, yc + g * c.Og,
             c.Cout);
      apply_epilogue(ep, yc, (r1 - r0) * c.Cout);  // while the chunk is still in cache
    });
  };
  if (!wino_eligible(c)) {
    // Few output channels (a network's first conv: 3x3 over RGB to 8..64):
    // the patches go through the direct 1x1 kernel, bias and activation
    // included, instead of the GEMM with its packing and separate passes.
    if (c.G == 1 && c.rows() * c.ld() <= c.chunk_rows() * c.ld() && patch_forward(c, x, w, bias, y, ep)) return;
    return im2col_forward();
  }
  const WinoConv wc = wino_forward(c);
  run_planned(wc, false, [&](int algo, const WinoPlan& p) {
    if (algo == kIm2col) im2col_forward();
    else winograd_conv(wc, p, x, w, false, bias, y, ep);
  });
}

void conv2d_backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dyt, const Grads& din) {
  const WorkspaceScope lease;
  const Tensor &xt = *in[0], &wt = *in[1];
  const Conv c = make_conv(call, xt.shape(), wt.shape());
  const float *x = xt.data(), *w = wt.data(), *dy = dyt.data();
  float* dx = din.size() > 0 && din[0] ? din[0]->data() : nullptr;
  float* dw = din.size() > 1 && din[1] ? din[1]->data() : nullptr;
  float* db = din.size() > 2 && din[2] ? din[2]->data() : nullptr;
  const int64_t rows = c.rows(), w_numel = wt.numel();

  if (db) column_sums(dy, rows, c.Cout, db);
  if (!dx && !dw) return;
  if (rows == 0 || c.Cout == 0 || c.C == 0) {
    // Nothing flows: gradients are all zero (or have no elements).
    if (dx) std::fill(dx, dx + xt.numel(), 0.f);
    if (dw) std::fill(dw, dw + w_numel, 0.f);
    return;
  }
  if (c.depthwise()) return depthwise_backward(c, x, w, dy, dx, dw);

  const int64_t ld = c.ld(), kkc = c.kkc();
  const Chunks ch = plan_chunks(c);
  if (dw) {
    // dW_g = sum over chunks of cols_g^T * dY_g. Concurrent chunks accumulate
    // into one partial filter per task (tasks own fixed chunk sets), summed at the end.
    const int64_t tasks = ch.parallel ? std::min<int64_t>(ch.count, num_threads()) : 1;
    std::vector<float> part(tasks > 1 ? static_cast<size_t>(tasks * w_numel) : 0);
    auto task = [&](int64_t t) {
      float* acc = tasks > 1 ? part.data() + t * w_numel : dw;
      for (int64_t i = t; i < ch.count; i += tasks) {
        const int64_t r0 = i * ch.rows, r1 = std::min(rows, r0 + ch.rows);
        const float* cols = patches(c, x, r0, r1);
        for (int64_t g = 0; g < c.G; ++g)
          gemm(true, false, kkc, c.Og, r1 - r0, 1.f, cols + g * kkc, ld, dy + r0 * c.Cout + g * c.Og, c.Cout,
               i == t ? 0.f : 1.f, acc + g * c.Og, c.Cout);
      }
    };
    parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) task(t);
    });
    if (tasks > 1) column_sums(part.data(), tasks, w_numel, dw);
  }
  if (!dx) return;
  // dcols = dY_g * W_g^T, scattered into dx (1x1: written into dx directly).
  // Concurrent chunks run in two phases (even, then odd chunks): chunks two
  // apart never share an input row.
  auto im2col_backward = [&] {
    const bool direct = c.pointwise();
    if (!direct) parallel_for(0, xt.numel(), 1 << 16, [&](int64_t a, int64_t b) { std::fill(dx + a, dx + b, 0.f); });
    for (int parity = 0; parity < 2; ++parity)
      for_chunks(ch, parity, 2, [&](int64_t r0, int64_t r1) {
        float* dcols = direct ? dx + r0 * ld : scratch(kSlotDcols, ch.rows * ld);
        for (int64_t g = 0; g < c.G; ++g)
          gemm(false, true, r1 - r0, kkc, c.Og, 1.f, dy + r0 * c.Cout + g * c.Og, c.Cout, w + g * c.Og, c.Cout, 0.f,
               dcols + g * kkc, ld);
        if (!direct) col2im(c, dcols, r0, r1, dx);
      });
  };
  if (!wino_eligible(c)) return im2col_backward();
  // A forward-style conv of dy with the flipped, transposed filter: no scatter.
  const WinoConv wc = wino_backward(c);
  run_planned(wc, true, [&](int algo, const WinoPlan& p) {
    if (algo == kIm2col) im2col_backward();
    else winograd_conv(wc, p, dy, w, true, nullptr, dx, Epilogue{});
  });
}

}  // namespace ec::cpu
