// The vector routines (core/backend.h) on the device, tensors in device memory. Plain C++
// declarations so host code can call them. Reductions are the deterministic
// two-pass block sums in double, so results do not vary run to run; the
// routines returning a double copy one value back (and so wait for the GPU).
//
// The CUDA backend hands them out through Backend::vec().
#pragma once
#include <vector>

#include "common.cuh"

namespace ec::cuda {

EC_DECLARE_VEC_ROUTINES  // core/backend.h

}  // namespace ec::cuda
