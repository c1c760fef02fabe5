// Pad of any rank: constant, reflect (numpy 'reflect', edge excluded) or edge.
//
// Each dimension gets a map from output index to source index (-1 where the
// constant value goes); the last dimension is contiguous, so work runs over
// whole rows. The backward pass inverts the maps: each input row gathers the
// dy rows that read from it, which keeps threads on disjoint dx rows.
#include <algorithm>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace ec::cpu {

namespace {

std::vector<int64_t> dim_map(int64_t n, int64_t lo, int64_t hi, PadKind kind) {
  std::vector<int64_t> m(n + lo + hi);
  for (int64_t o = 0; o < static_cast<int64_t>(m.size()); ++o) {
    int64_t i = o - lo;
    if (i < 0 || i >= n) {
      switch (kind) {
        case PadKind::Constant: i = -1; break;
        // infer_shape keeps reflect pads below n, so one reflection lands inside.
        case PadKind::Reflect: i = i < 0 ? -i : 2 * (n - 1) - i; break;
        case PadKind::Edge: i = std::clamp<int64_t>(i, 0, n - 1); break;
      }
    }
    m[o] = i;
  }
  return m;
}

struct PadPlan {
  int rank;
  Shape in, out;
  std::vector<std::vector<int64_t>> maps;  // per dimension, output index -> source index or -1
  int64_t lo_last;                         // before-padding of the last dimension
};

PadPlan pad_plan(const OpCall& call, const Shape& in) {
  const auto& a = call.get<PadAttrs>();
  PadPlan p;
  p.rank = static_cast<int>(in.size());
  p.in = in;
  p.out = in;
  p.lo_last = p.rank ? a.pads[p.rank - 1] : 0;
  for (int d = 0; d < p.rank; ++d) {
    p.maps.push_back(dim_map(in[d], a.pads[d], a.pads[d + p.rank], a.kind));
    p.out[d] = static_cast<int64_t>(p.maps.back().size());
  }
  return p;
}

}  // namespace

void pad_forward(const OpCall& call, const Inputs& in, Tensor& out) {
  const float value = call.get<PadAttrs>().value;
  const PadPlan p = pad_plan(call, in[0]->shape());
  const float* x = in[0]->data();
  float* y = out.data();
  if (p.rank == 0) {
    y[0] = x[0];
    return;
  }
  const int64_t len_out = p.out.back(), len_in = p.in.back();
  if (out.numel() == 0) return;
  const std::vector<int64_t>& last = p.maps.back();
  const int64_t rows = out.numel() / len_out;
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / len_out), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* yr = y + r * len_out;
      // Source row of output row r, or -1 when any leading index lies in constant padding.
      int64_t src = 0, stride = 1, rem = r;
      for (int d = p.rank - 2; d >= 0 && src >= 0; --d) {
        const int64_t s = p.maps[d][rem % p.out[d]];
        rem /= p.out[d];
        src = s < 0 ? -1 : src + s * stride;
        stride *= p.in[d];
      }
      if (src < 0 || len_in == 0) {
        std::fill(yr, yr + len_out, value);
        continue;
      }
      const float* xr = x + src * len_in;
      for (int64_t j = 0; j < p.lo_last; ++j) yr[j] = last[j] < 0 ? value : xr[last[j]];
      std::copy(xr, xr + len_in, yr + p.lo_last);
      for (int64_t j = p.lo_last + len_in; j < len_out; ++j) yr[j] = last[j] < 0 ? value : xr[last[j]];
    }
  });
}

void pad_backward(const OpCall& call, const Inputs&, const Tensor&, const Tensor& dy, const Grads& din) {
  if (!din[0]) return;
  const PadPlan p = pad_plan(call, din[0]->shape());
  const float* gy = dy.data();
  float* dx = din[0]->data();
  if (p.rank == 0) {
    dx[0] = gy[0];
    return;
  }
  if (din[0]->numel() == 0) return;
  const int lead = p.rank - 1;
  // Inverse maps of the leading dimensions: source index -> output indices reading it.
  std::vector<std::vector<std::vector<int64_t>>> pre(lead);
  for (int d = 0; d < lead; ++d) {
    pre[d].resize(p.in[d]);
    for (int64_t o = 0; o < p.out[d]; ++o)
      if (p.maps[d][o] >= 0) pre[d][p.maps[d][o]].push_back(o);
  }
  const std::vector<int64_t>& last = p.maps.back();
  const int64_t len_out = p.out.back(), len_in = p.in.back();
  const int64_t rows = din[0]->numel() / len_in;
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / len_out), [&](int64_t b, int64_t e) {
    std::vector<int64_t> idx(lead);
    std::vector<size_t> pos(lead);
    for (int64_t r = b; r < e; ++r) {
      float* xr = dx + r * len_in;
      std::fill(xr, xr + len_in, 0.f);
      for (int64_t d = lead - 1, rem = r; d >= 0; --d) {
        idx[d] = rem % p.in[d];
        rem /= p.in[d];
      }
      // Every combination of output indices over the leading dimensions (an odometer).
      std::fill(pos.begin(), pos.end(), 0);
      for (;;) {
        int64_t orow = 0;
        for (int d = 0; d < lead; ++d) orow = orow * p.out[d] + pre[d][idx[d]][pos[d]];
        const float* gr = gy + orow * len_out;
        for (int64_t j = 0; j < p.lo_last; ++j)
          if (last[j] >= 0) xr[last[j]] += gr[j];
        for (int64_t j = 0; j < len_in; ++j) xr[j] += gr[p.lo_last + j];
        for (int64_t j = p.lo_last + len_in; j < len_out; ++j)
          if (last[j] >= 0) xr[last[j]] += gr[j];
        int d = lead - 1;
        while (d >= 0 && ++pos[d] == pre[d][idx[d]].size()) pos[d--] = 0;
        if (d < 0) break;
      }
    }
  });
}

}  // namespace ec::cpu
