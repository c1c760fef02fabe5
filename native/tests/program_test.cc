// Program: forward plans are made once per (input shapes, taps, grad), and the
// conv + relu fusion (inference, and relu when keeping for backward) gives what the unfused pass gives.
#include "../core/program.h"
#include "op_table.h"
#include "test.h"

using namespace ec;

namespace {

// x[1,6,6,2] -> conv 3x3 (same) -> relu -> sum_squares
Graph small_net() {
  Graph g;
  GraphNode x;
  x.kind = GraphNode::Kind::Input, x.name = "x", x.shape = {1, -1, -1, 2};
  GraphNode w;
  w.kind = GraphNode::Kind::Param, w.name = "w", w.value = test::random_tensor({3, 3, 2, 4}, 7, -1.f, 1.f);
  GraphNode conv;
  Conv2dAttrs a;
  a.win.pad_mode = PadMode::SameUpper;
  conv.name = "conv", conv.call = {Op::Conv2d, a}, conv.inputs = {0, 1};
  GraphNode relu;
  relu.name = "relu", relu.call = {Op::Relu, NoAttrs{}}, relu.inputs = {2};
  GraphNode loss;
  loss.name = "loss", loss.call = {Op::SumSquares, NoAttrs{}}, loss.inputs = {3};
  g.nodes = {x, w, conv, relu, loss};
  return g;
}

}  // namespace

TEST(program_reuses_its_forward_plan) {
  Program p(small_net(), backend_by_name("cpu"));
  const Tensor x = test::random_tensor({1, 6, 6, 2}, 1, -1.f, 1.f);
  const float first = p.forward({{"x", x}}, {"loss"}, false).at("loss").data()[0];
  for (int i = 0; i < 3; ++i) CHECK(p.forward({{"x", x}}, {"loss"}, false).at("loss").data()[0] == first);
  CHECK(p.plan_count() == 1);
  p.forward({{"x", x}}, {"relu"}, false);  // other taps
  CHECK(p.plan_count() == 2);
  p.forward({{"x", x}}, {"loss"}, true);  // grad
  CHECK(p.plan_count() == 3);
  p.forward({{"x", test::random_tensor({1, 5, 7, 2}, 2, -1.f, 1.f)}}, {"loss"}, false);  // other shape
  CHECK(p.plan_count() == 4);
  p.forward({{"x", x}}, {"loss"}, false);
  CHECK(p.plan_count() == 4);
  CHECK_THROWS(p.forward({}, {"loss"}, false), "input 'x' was not given");
}

TEST(program_fused_conv_relu_matches_the_unfused_pass) {
  Program p(small_net(), backend_by_name("cpu"));
  const Tensor x = test::random_tensor({1, 6, 6, 2}, 3, -1.f, 1.f);
  const Tensor fused = p.forward({{"x", x}}, {"relu"}, false).at("relu");  // inference: conv + relu fused
  const Tensor plain = p.forward({{"x", x}}, {"conv", "relu"}, false).at("relu");  // conv tapped: no fusion
  const Tensor kept = p.forward({{"x", x}}, {"relu"}, true).at("relu");  // grad: relu fused too
  for (int64_t i = 0; i < plain.numel(); ++i) CHECK(kept.data()[i] == plain.data()[i]);
  CHECK(fused.shape() == plain.shape());
  int positive = 0;
  for (int64_t i = 0; i < plain.numel(); ++i) {
    CHECK(fused.data()[i] == plain.data()[i]);
    positive += plain.data()[i] > 0.f;
  }
  CHECK(positive > 0 && positive < plain.numel());  // the relu cut something
}

// Found by native/fuzz/program_fuzz.cc under UBSan: a reshape target whose
// product overflows int64 (7 * 2^62.8) was multiplied unchecked.
TEST(reshape_target_too_large_is_an_error_not_an_overflow) {
  const OpCall call{Op::Reshape, ReshapeAttrs{{7, int64_t{8070450532247928832}}}};
  CHECK_THROWS((void)infer_shape(call, {Shape{7}}), "has more than 2^48 elements");
  const OpCall infer{Op::Reshape, ReshapeAttrs{{-1, int64_t{1} << 40, int64_t{1} << 40}}};
  CHECK_THROWS((void)infer_shape(infer, {Shape{7}}), "has more than 2^48 elements");
}

// Found by native/fuzz/program_fuzz.cc under UBSan: an LRN size of INT_MAX
// overflowed the CPU kernel's window arithmetic; the size is now bounded.
TEST(lrn_size_is_bounded) {
  LrnAttrs a;
  a.size = 2147483647;
  CHECK_THROWS((void)infer_shape(OpCall{Op::Lrn, a}, {Shape{1, 2, 2, 8}}), "size must be between 1 and 4095 but is 2147483647");
}

// Found by native/fuzz/program_fuzz.cc under ASan: a resize to about 2^30 rows of an
// input with no channels made an empty output but a 50 GB table of row taps.
TEST(resize_output_size_is_bounded) {
  ResizeAttrs a;
  a.out_h = int64_t{1} << 30;
  a.out_w = 4;
  CHECK_THROWS((void)infer_shape(OpCall{Op::ResizeBilinear, a}, {Shape{1, 2, 2, 0}}),
               "output size must be between 1x1 and 65536x65536 but is 1073741824x4");
}
