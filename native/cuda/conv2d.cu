// conv2d on the GPU: NHWC input, HWIO filter [KH,KW,Cin/groups,Cout], optional
// bias, any stride / dilation / asymmetric padding / groups (see
// native/cpu/conv2d.cc for the semantics).
//
// Forward and dX are implicit GEMMs through the tiled SGEMM (gemm.cu): the
// patch matrix is gathered from x (forward) or dy (dX) while tiles load, never
// materialized. dX runs per group as [N*H*W, KH*KW*Og] x [KH*KW*Og, Cg] over a
// filter re-laid out as [G][KH*KW][Og][Cg] so its tiles load contiguously.
// dW is a GEMM over output rows (patches^T * dY), split over K and summed in
// a fixed order when the filter alone gives too few tiles. The bias gradient
// is a deterministic column sum of dY.
//
// Convs with one input channel per group (depthwise, or a single-channel
// input) would waste a 64-wide GEMM tile; they run direct kernels instead:
// a gather per output (forward), a gather per input (dX, no atomics) and a
// reduction per filter tap (dW).
#include "gemm.cuh"
#include "reduce.cuh"

namespace ec::cuda {

namespace {

ConvGeom make_geom(const OpCall& call, const Shape& x, const Shape& w) {
  const auto& a = call.get<Conv2dAttrs>();
  const Geometry2d g = conv2d_geometry(call, x, w);
  // The GEMM loaders index pixels and patch columns in 32 bits.
  const int64_t taps = w[0] * w[1], og = w[3] / a.groups;
  for (int64_t d : {x[0] * x[1] * x[2], x[0] * g.out_h * g.out_w, taps * w[2], taps * og, x[3], w[3]})
    if (d > 0x7fffffff) throw Error("conv2d: size " + std::to_string(d) + " is too large for the CUDA kernels");
  auto i = [](int64_t v) { return static_cast<int>(v); };
  return {i(x[0]), i(x[1]), i(x[2]), i(x[3]), i(w[0]), i(w[1]), i(w[2]), i(w[3]), i(w[3] / a.groups), a.groups,
          i(g.out_h), i(g.out_w), g.stride_h, g.stride_w, g.dilation_h, g.dilation_w, g.pad_top, g.pad_left};
}

// One input channel per group: y[n,oh,ow,co] = b[co] + sum_tap x[n,ih,iw,co/Og] * w[tap, 0, co].
__global__ void conv_direct_forward_kernel(ConvGeom g, const float* x, const float* w, const float* bias, float* y,
                                           int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int co = static_cast<int>(i % g.Cout);
    int64_t t = i / g.Cout;
    const int ow = static_cast<int>(t % g.OW);
    t /= g.OW;
    const int oh = static_cast<int>(t % g.OH);
    const int64_t n = t / g.OH;
    const int ci = co / g.Og;
    float acc = bias ? bias[co] : 0.f;
    for (int kh = 0; kh < g.KH; ++kh) {
      const int ih = oh * g.sh - g.pt + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int kw = 0; kw < g.KW; ++kw) {
        const int iw = ow * g.sw - g.pl + kw * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        acc = fmaf(x[((n * g.H + ih) * g.W + iw) * g.C + ci], w[(kh * g.KW + kw) * g.Cout + co], acc);
      }
    }
    y[i] = acc;
  }
}

// dx[n,ih,iw,ci] = sum over taps and the Og outputs of group ci of dy * w.
__global__ void conv_direct_dx_kernel(ConvGeom g, const float* dy, const float* w, float* dx, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int ci = static_cast<int>(i % g.C);
    int64_t t = i / g.C;
    const int iw = static_cast<int>(t % g.W);
    t /= g.W;
    const int ih = static_cast<int>(t % g.H);
    const int64_t n = t / g.H;
    float acc = 0.f;
    for (int kh = 0; kh < g.KH; ++kh) {
      const int th = ih + g.pt - kh * g.dh;
      if (th < 0 || th % g.sh || th / g.sh >= g.OH) continue;
      for (int kw = 0; kw < g.KW; ++kw) {
        const int tw = iw + g.pl - kw * g.dw;
        if (tw < 0 || tw % g.sw || tw / g.sw >= g.OW) continue;
        const float* gy = dy + ((n * g.OH + th / g.sh) * g.OW + tw / g.sw) * g.Cout + ci * g.Og;
        const float* wk = w + (kh * g.KW + kw) * g.Cout + ci * g.Og;
        for (int j = 0; j < g.Og; ++j) acc = fmaf(gy[j], wk[j], acc);
      }
    }
    dx[i] = acc;
  }
}

// dW term for the direct path: k = tap * Cout + co, r = output pixel.
struct DirectDwTerm {
  ConvGeom g;
  const float *x, *dy;
  __device__ double operator()(int64_t k, int64_t r) const {
    const int co = static_cast<int>(k % g.Cout), tap = static_cast<int>(k / g.Cout);
    const int kh = tap / g.KW, kw = tap - kh * g.KW;
    const int ow = static_cast<int>(r % g.OW);
    const int64_t t = r / g.OW;
    const int oh = static_cast<int>(t % g.OH);
    const int64_t n = t / g.OH;
    const int ih = oh * g.sh - g.pt + kh * g.dh, iw = ow * g.sw - g.pl + kw * g.dw;
    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return 0.0;
    return static_cast<double>(x[((n * g.H + ih) * g.W + iw) * g.C + co / g.Og]) * dy[r * g.Cout + co];
  }
};

// wt[((g*taps + tap)*Og + j)*Cg + c] = w[(tap*Cg + c)*Cout + g*Og + j]
__global__ void conv_filter_transpose_kernel(ConvGeom g, const float* w, float* wt, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int c = static_cast<int>(i % g.Cg);
    int64_t t = i / g.Cg;
    const int j = static_cast<int>(t % g.Og);
    t /= g.Og;
    const int taps = g.KH * g.KW;
    const int tap = static_cast<int>(t % taps);
    const int grp = static_cast<int>(t / taps);
    wt[i] = w[(static_cast<int64_t>(tap) * g.Cg + c) * g.Cout + static_cast<int64_t>(grp) * g.Og + j];
  }
}

}  // namespace

void conv2d_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  conv2d_forward_cuda(call, in, out, Epilogue{});
}

void conv2d_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep) {
  const ConvGeom g = make_geom(call, in[0]->shape(), in[1]->shape());
  const float *x = in[0]->data(), *w = in[1]->data(), *bias = opt_input(in, 2);
  const int64_t rows = static_cast<int64_t>(g.N) * g.OH * g.OW, total = rows * g.Cout;
  if (total == 0) return;
  // A fused activation (the Program's, for inference): ReLU = clamp to [0, inf).
  const bool clamp = ep.kind != Epilogue::Kind::None;
  const float lo = ep.kind == Epilogue::Kind::Relu ? 0.f : ep.lo;
  const float hi = ep.kind == Epilogue::Kind::Relu ? INFINITY : ep.hi;
  if (g.Cg == 1) {
    conv_direct_forward_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(g, x, w, bias, out.data(), total);
    EC_CUDA_LAUNCH_CHECK();
    if (clamp) clamp_cuda(out.data(), total, lo, hi);
    return;
  }
  GemmA a;
  a.kind = AKind::ConvFwd;
  a.p = x;
  a.conv = g;
  GemmArgs m;
  m.M = rows, m.N = g.Og, m.K = static_cast<int64_t>(g.KH) * g.KW * g.Cg, m.batch = g.G;
  m.b = w, m.ldb = g.Cout, m.b_z = g.Og;
  m.c = out.data(), m.ldc = g.Cout, m.c_z = g.Og, m.c_total = total;
  m.bias = bias, m.bias_z = g.Og;
  m.clamp = clamp, m.lo = lo, m.hi = hi;
  gemm_cuda(a, m);
}

void conv2d_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dyt, const Grads& din) {
  const Tensor &xt = *in[0], &wt = *in[1];
  const ConvGeom g = make_geom(call, xt.shape(), wt.shape());
  const float *x = xt.data(), *w = wt.data(), *dy = dyt.data();
  Tensor *dx = grad_at(din, 0), *dw = grad_at(din, 1), *db = grad_at(din, 2);
  const int64_t rows = static_cast<int64_t>(g.N) * g.OH * g.OW, taps = static_cast<int64_t>(g.KH) * g.KW;

  if (db) column_sums_cuda(dy, rows, g.Cout, db->data());
  if (rows == 0 || g.Cout == 0 || g.C == 0) {
    // Nothing flows: the gradients are zero (or have no elements).
    if (dx) fill_cuda(dx->data(), dx->numel(), 0.f);
    if (dw) fill_cuda(dw->data(), dw->numel(), 0.f);
    return;
  }
  if (g.Cg == 1) {
    if (dx) {
      conv_direct_dx_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(g, dy, w, dx->data(), dx->numel());
      EC_CUDA_LAUNCH_CHECK();
    }
    if (dw) reduce_cuda(DirectDwTerm{g, x, dy}, taps * g.Cout, rows, 1.0, dw->data());
    return;
  }
  if (dw) {
    GemmA a;
    a.kind = AKind::ConvDw;
    a.p = x;
    a.conv = g;
    GemmArgs m;
    m.M = taps * g.Cg, m.N = g.Og, m.K = rows, m.batch = g.G;
    m.b = dy, m.ldb = g.Cout, m.b_z = g.Og;
    m.c = dw->data(), m.ldc = g.Cout, m.c_z = g.Og, m.c_total = dw->numel();
    gemm_cuda(a, m);
  }
  if (dx) {
    Tensor wtr = scratch(wt.numel());
    conv_filter_transpose_kernel<<<blocks_for(wt.numel()), kThreads, 0, stream()>>>(g, w, wtr.data(), wt.numel());
    EC_CUDA_LAUNCH_CHECK();
    GemmA a;
    a.kind = AKind::ConvDx;
    a.p = dy;
    a.conv = g;
    GemmArgs m;
    m.M = static_cast<int64_t>(g.N) * g.H * g.W, m.N = g.Cg, m.K = taps * g.Og, m.batch = g.G;
    m.b = wtr.data(), m.ldb = g.Cg, m.b_z = taps * g.Og * g.Cg;
    m.c = dx->data(), m.ldc = g.C, m.c_z = g.Cg, m.c_total = dx->numel();
    gemm_cuda(a, m);
  }
}

}  // namespace ec::cuda
