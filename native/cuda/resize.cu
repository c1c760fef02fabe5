// Bilinear resize on the GPU, NHWC. The per-axis source maps are computed on
// the host exactly as native/cpu/resize.cc does (double coordinates, clamped
// edge taps) and uploaded, so both backends blend the same pixels with the
// same weights. Backward is a gather: the host also inverts each axis map
// (for every source index, the outputs that read it and with what weight),
// and a thread per dx element sums its contributions, avoiding atomics.
#include <cmath>
#include <cstring>
#include <vector>

#include "launch.cuh"

namespace ec::cuda {

namespace {

// One axis: forward taps for each output, and the inverse lists per source index.
struct AxisMap {
  std::vector<int32_t> i0, i1;  // per output
  std::vector<float> w1;        // per output: value = (1 - w1) x[i0] + w1 x[i1]
  std::vector<int32_t> start;   // per source index + 1: CSR offsets into (out, weight)
  std::vector<int32_t> out;
  std::vector<float> weight;
};

AxisMap axis_map(int64_t in, int64_t out, ResizeCoord coord) {
  AxisMap m;
  const double ratio = static_cast<double>(in) / static_cast<double>(out);
  std::vector<std::vector<std::pair<int32_t, float>>> inv(in);
  for (int64_t d = 0; d < out; ++d) {
    double src = 0.0;
    switch (coord) {
      case ResizeCoord::HalfPixel: src = std::max(0.0, (static_cast<double>(d) + 0.5) * ratio - 0.5); break;
      case ResizeCoord::AlignCorners:
        src = out == 1 ? 0.0 : static_cast<double>(d) * static_cast<double>(in - 1) / static_cast<double>(out - 1);
        break;
      case ResizeCoord::Asymmetric: src = static_cast<double>(d) * ratio; break;
    }
    const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1), i1 = std::min(i0 + 1, in - 1);
    const float w1 = i1 == i0 ? 0.f : static_cast<float>(src - static_cast<double>(i0));
    m.i0.push_back(static_cast<int32_t>(i0));
    m.i1.push_back(static_cast<int32_t>(i1));
    m.w1.push_back(w1);
    // Both taps listed even when they coincide: the CPU adds them separately too.
    inv[i0].push_back({static_cast<int32_t>(d), 1.f - w1});
    inv[i1].push_back({static_cast<int32_t>(d), w1});
  }
  m.start.push_back(0);
  for (const auto& list : inv) {
    for (const auto& [o, w] : list) m.out.push_back(o), m.weight.push_back(w);
    m.start.push_back(static_cast<int32_t>(m.out.size()));
  }
  return m;
}

// The maps of both axes in one device buffer (int32 and float share 4 bytes);
// the kernels get the pointers, the caller keeps `buf` alive.
struct DeviceMaps {
  const int32_t *h_i0, *h_i1, *w_i0, *w_i1, *h_start, *h_out, *w_start, *w_out;
  const float *h_w1, *w_w1, *h_weight, *w_weight;
};

DeviceMaps upload(const AxisMap& h, const AxisMap& w, Tensor& buf) {
  std::vector<uint32_t> host;
  std::vector<size_t> at;
  auto put = [&](const auto& v) {
    at.push_back(host.size());
    for (const auto& e : v) {
      uint32_t bits;
      std::memcpy(&bits, &e, 4);
      host.push_back(bits);
    }
  };
  for (const AxisMap* m : {&h, &w}) put(m->i0), put(m->i1), put(m->w1), put(m->start), put(m->out), put(m->weight);
  DeviceMaps d;
  buf = scratch(static_cast<int64_t>(host.size()));
  // Queued on this stream, after every earlier user of this recycled block
  // (memory.cu); pageable memory, so `host` may go once the call returns.
  EC_CUDA_CHECK(cudaMemcpyAsync(buf.data(), host.data(), host.size() * 4, cudaMemcpyHostToDevice, stream()));
  const float* base = buf.data();
  auto I = [&](int k) { return reinterpret_cast<const int32_t*>(base + at[k]); };
  auto F = [&](int k) { return base + at[k]; };
  d.h_i0 = I(0), d.h_i1 = I(1), d.h_w1 = F(2), d.h_start = I(3), d.h_out = I(4), d.h_weight = F(5);
  d.w_i0 = I(6), d.w_i1 = I(7), d.w_w1 = F(8), d.w_start = I(9), d.w_out = I(10), d.w_weight = F(11);
  return d;
}

struct Dims {
  int64_t N, C;
  int IH, IW, OH, OW;
};

__global__ void resize_kernel(DeviceMaps m, Dims s, const float* x, float* y, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t c = i % s.C;
    int64_t t = i / s.C;
    const int ow = static_cast<int>(t % s.OW);
    t /= s.OW;
    const int oh = static_cast<int>(t % s.OH);
    const int64_t n = t / s.OH;
    const float h1 = m.h_w1[oh], h0 = 1.f - h1, w1 = m.w_w1[ow], w0 = 1.f - w1;
    const float* row0 = x + (n * s.IH + m.h_i0[oh]) * s.IW * s.C + c;
    const float* row1 = x + (n * s.IH + m.h_i1[oh]) * s.IW * s.C + c;
    const int64_t a = m.w_i0[ow] * s.C, b = m.w_i1[ow] * s.C;
    y[i] = h0 * (w0 * row0[a] + w1 * row0[b]) + h1 * (w0 * row1[a] + w1 * row1[b]);
  }
}

__global__ void resize_grad_kernel(DeviceMaps m, Dims s, const float* dy, float* dx, int64_t total) {
  EC_GRID_STRIDE(i, total) {
    const int64_t c = i % s.C;
    int64_t t = i / s.C;
    const int iw = static_cast<int>(t % s.IW);
    t /= s.IW;
    const int ih = static_cast<int>(t % s.IH);
    const int64_t n = t / s.IH;
    const float* gn = dy + n * s.OH * static_cast<int64_t>(s.OW) * s.C + c;
    float acc = 0.f;
    for (int a = m.h_start[ih]; a < m.h_start[ih + 1]; ++a) {
      const float wh = m.h_weight[a];
      const float* gr = gn + static_cast<int64_t>(m.h_out[a]) * s.OW * s.C;
      for (int b = m.w_start[iw]; b < m.w_start[iw + 1]; ++b)
        acc += wh * m.w_weight[b] * gr[static_cast<int64_t>(m.w_out[b]) * s.C];
    }
    dx[i] = acc;
  }
}

Dims dims_of(const OpCall& call, const Shape& x) {
  const auto& a = call.get<ResizeAttrs>();
  if (x[1] > 0x7fffffff || x[2] > 0x7fffffff) throw Error("resize_bilinear: image too large for the CUDA kernels");
  return {x[0], x[3], static_cast<int>(x[1]), static_cast<int>(x[2]), a.out_h, a.out_w};
}

DeviceMaps maps_for(const OpCall& call, const Dims& s, Tensor& buf) {
  const ResizeCoord coord = call.get<ResizeAttrs>().coord;
  return upload(axis_map(s.IH, s.OH, coord), axis_map(s.IW, s.OW, coord), buf);
}

}  // namespace

void resize_bilinear_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  if (out.numel() == 0) return;
  const Dims s = dims_of(call, in[0]->shape());
  Tensor buf;
  const DeviceMaps m = maps_for(call, s, buf);
  resize_kernel<<<blocks_for(out.numel()), kThreads, 0, stream()>>>(m, s, in[0]->data(), out.data(), out.numel());
  EC_CUDA_LAUNCH_CHECK();
}

void resize_bilinear_backward_cuda(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy,
                                   const Grads& din) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  const Dims s = dims_of(call, dx->shape());
  Tensor buf;
  const DeviceMaps m = maps_for(call, s, buf);
  resize_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(m, s, dy.data(), dx->data(), dx->numel());
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace ec::cuda
