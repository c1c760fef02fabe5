// dense: a hand-computed forward and backward (with and without bias, rank 1
// to 3 inputs), random shapes against a naive double reference, the
// zero-feature edge, and that null gradient slots stay untouched.
#include <cmath>
#include <random>
#include <vector>

#include "core/ops.h"
#include "cpu/kernels.h"
#include "../test.h"

namespace {

using ec::Shape;
using ec::Tensor;

const ec::OpCall kDense{ec::Op::Dense, ec::DenseAttrs{}};

Tensor forward(const Tensor& x, const Tensor& w, const Tensor* b) {
  ec::Inputs in{&x, &w};
  if (b) in.push_back(b);
  std::vector<Shape> shapes;
  for (const Tensor* t : in) shapes.push_back(t->shape());
  Tensor y(ec::infer_shape(kDense, shapes));
  y.fill(NAN);
  ec::cpu::dense_forward(kDense, in, y);
  return y;
}

struct Grads {
  Tensor dx, dw, db;
};

Grads backward(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& dy, bool want_dx = true) {
  Grads g{Tensor(x.shape()), Tensor(w.shape()), Tensor(Shape{w.dim(1)})};
  g.dx.fill(NAN), g.dw.fill(NAN), g.db.fill(NAN);
  ec::Inputs in{&x, &w};
  if (b) in.push_back(b);
  ec::Grads din{want_dx ? &g.dx : nullptr, &g.dw};
  if (b) din.push_back(&g.db);
  ec::cpu::dense_backward(kDense, in, Tensor(), dy, din);
  return g;
}

void expect_values(const Tensor& t, const std::vector<float>& want, double tol = 1e-5) {
  CHECK(t.numel() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) CHECK_NEAR(t.data()[i], want[i], tol);
}

Tensor random_tensor(Shape s, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  Tensor t(std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
  return t;
}

}  // namespace

TEST(dense_hand_case) {
  // x = [[1,2,3],[4,5,6]], w = [[1,0],[0,1],[1,-1]], b = [0.5,-1].
  const Tensor w = Tensor::from({3, 2}, {1, 0, 0, 1, 1, -1});
  const Tensor b = Tensor::from({2}, {0.5f, -1});
  const std::vector<float> xv{1, 2, 3, 4, 5, 6};
  const Tensor y = forward(Tensor::from({2, 3}, xv), w, &b);
  CHECK(y.shape() == (Shape{2, 2}));
  expect_values(y, {4.5f, -2, 10.5f, -2});
  expect_values(forward(Tensor::from({2, 3}, xv), w, nullptr), {4, -1, 10, -1});
  // Leading dimensions flatten into rows; a rank-1 input is one row.
  const Tensor y3 = forward(Tensor::from({2, 1, 3}, xv), w, &b);
  CHECK(y3.shape() == (Shape{2, 1, 2}));
  expect_values(y3, {4.5f, -2, 10.5f, -2});
  expect_values(forward(Tensor::from({3}, {1, 2, 3}), w, &b), {4.5f, -2});

  // dy = [[1,2],[3,-1]]: dx = dy w^T, dw = x^T dy, db = column sums.
  const Grads g = backward(Tensor::from({2, 1, 3}, xv), w, &b, Tensor::from({2, 1, 2}, {1, 2, 3, -1}));
  expect_values(g.dx, {1, 2, -1, 3, -1, 4});
  expect_values(g.dw, {13, -2, 17, -1, 21, 0});
  expect_values(g.db, {4, 1});
}

TEST(dense_random_against_reference) {
  std::mt19937 rng(21);
  for (const Shape& xs : {Shape{3, 5, 70}, Shape{1, 300}, Shape{37, 9}, Shape{2, 4, 4}}) {
    const int64_t in_f = xs.back(), out_f = 45, rows = ec::shape_numel(xs) / in_f;
    const Tensor x = random_tensor(xs, rng), w = random_tensor({in_f, out_f}, rng), b = random_tensor({out_f}, rng);
    Shape ys = xs;
    ys.back() = out_f;
    const Tensor dy = random_tensor(ys, rng);
    const Tensor y = forward(x, w, &b);
    const Grads g = backward(x, w, &b, dy);
    const float *X = x.data(), *Wt = w.data(), *D = dy.data();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out_f; ++j) {
        double s = b.data()[j];
        for (int64_t k = 0; k < in_f; ++k) s += double(X[r * in_f + k]) * Wt[k * out_f + j];
        CHECK_NEAR(y.data()[r * out_f + j], s, 1e-4);
      }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < in_f; ++k) {
        double s = 0;
        for (int64_t j = 0; j < out_f; ++j) s += double(D[r * out_f + j]) * Wt[k * out_f + j];
        CHECK_NEAR(g.dx.data()[r * in_f + k], s, 1e-4);
      }
    for (int64_t k = 0; k < in_f; ++k)
      for (int64_t j = 0; j < out_f; ++j) {
        double s = 0;
        for (int64_t r = 0; r < rows; ++r) s += double(X[r * in_f + k]) * D[r * out_f + j];
        CHECK_NEAR(g.dw.data()[k * out_f + j], s, 1e-4);
      }
    for (int64_t j = 0; j < out_f; ++j) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += D[r * out_f + j];
      CHECK_NEAR(g.db.data()[j], s, 1e-4);
    }
  }
}

TEST(dense_zero_features_and_null_grads) {
  // In == 0: every output is the bias; dw has no elements.
  const Tensor b = Tensor::from({3}, {1, 2, 3});
  expect_values(forward(Tensor({2, 0}), Tensor({0, 3}), &b), {1, 2, 3, 1, 2, 3});
  // A null dx slot is never written.
  const Tensor x = Tensor::from({1, 2}, {1, 2}), w = Tensor::from({2, 1}, {3, 4});
  const Grads g = backward(x, w, nullptr, Tensor::from({1, 1}, {2}), /*want_dx=*/false);
  CHECK(std::isnan(g.dx.data()[0]));
  expect_values(g.dw, {2, 4});
}
