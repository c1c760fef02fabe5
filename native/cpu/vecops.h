// The CPU's vector routines (declared and described in core/backend.h; all
// tensors host float32) and a small symmetric eigen-solver.
#pragma once
#include <vector>

#include "../core/backend.h"

namespace ec::cpu {

EC_DECLARE_VEC_ROUTINES  // core/backend.h

// Eigen-decomposition of a symmetric n x n matrix (row-major) by cyclic
// Jacobi rotations: values descending, vectors as rows (vectors[k*n + i] is
// component i of the k-th eigenvector). Throws when the matrix is not square
// or not symmetric within 1e-4 relative.
void sym_eig(const std::vector<double>& a, int n, std::vector<double>& values, std::vector<double>& vectors);

}  // namespace ec::cpu
