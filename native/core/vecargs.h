// Argument checks of the vector routines, shared by every backend's
// implementation (native/cpu/vecops.h, native/cuda/vecops.cuh), so the
// errors read the same wherever the tensors live.
#pragma once
#include <string>
#include <vector>

#include "tensor.h"

namespace ec::vecargs {

inline void same_size(const char* who, const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel())
    throw Error(std::string(who) + ": tensors of " + std::to_string(a.numel()) + " and " + std::to_string(b.numel()) +
                " elements");
}

// One [lo, hi] pair per channel (the last axis), lo <= hi.
inline void clamp_bounds(const Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi) {
  if (x.rank() == 0) throw Error("clamp: expected a tensor with a channel axis");
  const int64_t c = x.dim(-1);
  if (static_cast<int64_t>(lo.size()) != c || static_cast<int64_t>(hi.size()) != c)
    throw Error("clamp: expected " + std::to_string(c) + " bounds per side for " + shape_str(x.shape()) +
                " but received " + std::to_string(lo.size()) + " and " + std::to_string(hi.size()));
  for (int64_t k = 0; k < c; ++k)
    if (!(lo[k] <= hi[k]))
      throw Error("clamp: lower bound " + std::to_string(lo[k]) + " exceeds upper bound " + std::to_string(hi[k]));
}

inline void adam(const Tensor& x, const Tensor& g, const Tensor& m, const Tensor& v, int t) {
  same_size("adam", x, g);
  same_size("adam", x, m);
  same_size("adam", x, v);
  if (t < 1) throw Error("adam: step must be >= 1 but is " + std::to_string(t));
}

inline void roll_image(const Tensor& x) {
  if (x.rank() != 4) throw Error("roll: expected an NHWC image but received shape " + shape_str(x.shape()));
}

}  // namespace ec::vecargs
