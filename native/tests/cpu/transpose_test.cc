#include "../../cpu/kernels.h"
#include "../test.h"

using namespace ec;

TEST(transpose_hand_2x3) {
  const OpCall call{Op::Transpose, TransposeAttrs{{1, 0}}};
  Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y(infer_shape(call, {x.shape()}));
  cpu::forward(call, {&x}, y);
  CHECK(y.shape() == Shape({3, 2}));
  const float want[] = {1, 4, 2, 5, 3, 6};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(y.data()[i], want[i], 0);
  // Backward of a transpose is the inverse transpose.
  Tensor dx(Shape{2, 3});
  cpu::backward(call, {nullptr}, Tensor(), y, {&dx});
  for (int i = 0; i < 6; ++i) CHECK_NEAR(dx.data()[i], x.data()[i], 0);
}

TEST(transpose_nhwc_to_nchw_places_channels_first) {
  // [1,2,2,3] with value = 100*h + 10*w + c; NCHW[c][h][w] must hold the same value.
  std::vector<float> v;
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 2; ++w)
      for (int c = 0; c < 3; ++c) v.push_back(100.f * h + 10.f * w + c);
  Tensor x = Tensor::from({1, 2, 2, 3}, v);
  const OpCall call{Op::Transpose, TransposeAttrs{{0, 3, 1, 2}}};
  Tensor y(infer_shape(call, {x.shape()}));
  cpu::forward(call, {&x}, y);
  for (int c = 0; c < 3; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w) CHECK_NEAR(y.data()[c * 4 + h * 2 + w], 100.f * h + 10.f * w + c, 0);
}

TEST(transpose_rejects_bad_perm) {
  CHECK_THROWS(infer_shape(OpCall{Op::Transpose, TransposeAttrs{{0, 0}}}, {Shape{2, 3}}),
               "transpose: perm must be a permutation of 0..1");
  CHECK_THROWS(infer_shape(OpCall{Op::Transpose, TransposeAttrs{{0}}}, {Shape{2, 3}}),
               "transpose: perm has 1 entries but the input [2,3] has rank 2");
}
