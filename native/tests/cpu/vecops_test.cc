#include <cmath>
#include <random>

#include "../../cpu/vecops.h"
#include "../test.h"

using namespace ec;

TEST(vecops_dot_axpy_scale_norms) {
  Tensor a = Tensor::from({4}, {1, -2, 3, 4}), b = Tensor::from({4}, {2, 1, 0, -1});
  CHECK_NEAR(cpu::vec_dot(a, b), 2 - 2 + 0 - 4, 0);
  cpu::vec_axpy(2.f, a, b);  // b = [4, -3, 6, 7]
  CHECK_NEAR(b.data()[0], 4, 0);
  CHECK_NEAR(b.data()[3], 7, 0);
  cpu::vec_scale(b, 0.5f);
  CHECK_NEAR(b.data()[1], -1.5, 0);
  CHECK_NEAR(cpu::vec_norm1(a), 10, 0);
  CHECK_NEAR(cpu::vec_norm2(a), std::sqrt(30.0), 1e-12);
  CHECK_THROWS(cpu::vec_dot(a, Tensor(Shape{3})), "dot: tensors of 4 and 3 elements");
}

TEST(vecops_clamp_by_channel) {
  Tensor x = Tensor::from({1, 1, 2, 3}, {-5, 0, 5, 10, -10, 0.5f});
  cpu::vec_clamp_channels(x, {-1, -2, 0}, {1, 2, 1});
  const float want[] = {-1, 0, 1, 1, -2, 0.5f};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(x.data()[i], want[i], 0);
  CHECK_THROWS(cpu::vec_clamp_channels(x, {0}, {1}), "clamp: expected 3 bounds per side");
}

TEST(vecops_adam_first_step_moves_by_lr) {
  // With bias correction the first Adam step is lr * sign(g) (for |g| >> eps).
  Tensor x = Tensor::from({2}, {1, 1}), g = Tensor::from({2}, {0.3f, -4}), m(Shape{2}), v(Shape{2});
  cpu::vec_adam_step(x, g, m, v, 0.1f, 0.9f, 0.999f, 1e-8f, 1);
  CHECK_NEAR(x.data()[0], 0.9, 1e-6);
  CHECK_NEAR(x.data()[1], 1.1, 1e-6);
}

TEST(vecops_roll_wraps_rows_and_columns) {
  std::vector<float> v;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) v.push_back(10.f * y + x);
  Tensor img = Tensor::from({1, 3, 4, 1}, v);
  Tensor r = cpu::vec_roll(img, 1, -1);  // out(y, x) = in(y - 1, x + 1)
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) CHECK_NEAR(r.data()[y * 4 + x], 10.f * ((y + 2) % 3) + (x + 1) % 4, 0);
}

TEST(sym_eig_known_and_random_matrices) {
  std::vector<double> values, vectors;
  cpu::sym_eig({2, 1, 1, 2}, 2, values, vectors);
  CHECK_NEAR(values[0], 3, 1e-12);
  CHECK_NEAR(values[1], 1, 1e-12);
  CHECK_NEAR(vectors[0], std::sqrt(0.5), 1e-12);
  CHECK_NEAR(vectors[1], std::sqrt(0.5), 1e-12);
  // A random 20x20 covariance: A v = lambda v, orthonormal vectors, descending values.
  const int n = 20;
  std::mt19937 rng(7);
  std::normal_distribution<double> nd;
  std::vector<double> x(n * 50), a(n * n, 0);
  for (auto& e : x) e = nd(rng);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < 50; ++k) a[i * n + j] += x[i * 50 + k] * x[j * 50 + k] / 50;
  cpu::sym_eig(a, n, values, vectors);
  for (int k = 0; k < n; ++k) {
    if (k) CHECK(values[k] <= values[k - 1]);
    for (int i = 0; i < n; ++i) {
      double av = 0;
      for (int j = 0; j < n; ++j) av += a[i * n + j] * vectors[k * n + j];
      CHECK_NEAR(av, values[k] * vectors[k * n + i], 1e-9);
    }
    for (int l = 0; l < n; ++l) {
      double d = 0;
      for (int i = 0; i < n; ++i) d += vectors[k * n + i] * vectors[l * n + i];
      CHECK_NEAR(d, k == l ? 1 : 0, 1e-9);
    }
  }
  CHECK_THROWS(cpu::sym_eig({1, 2, 3, 4}, 2, values, vectors), "eig: the matrix is not symmetric (entry 0,1)");
}
