// The CUDA backend against the CPU reference: every op-table case (forward
// and backward on the same inputs, |gpu - cpu| <= 1e-4 * max(1, max|cpu|)),
// larger shapes that cross GEMM tiles, split-K and multi-chunk reductions,
// finite-difference gradients on the GPU, a small Program run on both
// backends, the device vector routines, and a memory test (1000 conv
// forward/backward passes leave cudaMemGetInfo unchanged).
//
// Every test name starts with "cuda" (`eyecandy_tests cuda` runs them all).
// Without a device each is reported as skipped (CI has no GPU).
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <thread>

#include "../../core/program.h"
#include "../../cpu/kernels.h"
#include "../op_table.h"
#include "../test.h"

#ifdef EC_WITH_CUDA
#include <cuda_runtime.h>

#include "../../cpu/vecops.h"
#include "../../cuda/common.cuh"
#include "../../cuda/vecops.cuh"

namespace ec::test {
namespace {

constexpr int64_t kGuard = 16;
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kSentinel = -12345.25f;

Backend& gpu() { return backend_by_name("cuda"); }

// True when a CUDA device answers; otherwise the test is skipped (SKIP throws),
// so it counts as skipped, never as passed.
bool ready(const char* test) {
  static std::string why;
  static const bool ok = gpu().available(&why);
  if (!ok) SKIP(why);
  return ok;
}

// A device tensor filled with `fill`, with kGuard sentinel floats behind it.
Tensor guarded(const Shape& shape, float fill) {
  const int64_t n = shape_numel(shape);
  Tensor raw = cuda::device_alloc(Shape{n + kGuard});
  cuda::fill_cuda(raw.data(), n, fill);
  cuda::fill_cuda(raw.data() + n, kGuard, kSentinel);
  return Tensor(shape, raw.storage());
}

bool guard_intact(const Tensor& t) {
  float g[kGuard];
  EC_CUDA_CHECK(cudaMemcpy(g, t.data() + t.numel(), sizeof g, cudaMemcpyDeviceToHost));
  for (float v : g)
    if (v != kSentinel) return false;
  return true;
}

Tensor host(const Tensor& d) { return gpu().to_host(d); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
}

std::string coords(const Shape& shape, int64_t k) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) idx[d] = shape[d] ? k % shape[d] : 0, k = shape[d] ? k / shape[d] : 0;
  return shape_str(idx);
}

// Appends a line to `err` when got (host) differs from ref beyond 1e-4 * max(1, max|ref|).
void compare(const std::string& what, const Tensor& ref, const Tensor& got, std::ostringstream& err, int& fails,
             double rel = 1e-4) {
  double scale = 1;
  for (int64_t k = 0; k < ref.numel(); ++k) scale = std::max(scale, std::fabs(static_cast<double>(ref.data()[k])));
  const double tol = rel * scale;
  int64_t bad = 0, first = -1;
  for (int64_t k = 0; k < ref.numel(); ++k) {
    const double d = std::fabs(static_cast<double>(got.data()[k]) - ref.data()[k]);
    if (!(d <= tol)) ++bad, first = first < 0 ? k : first;
  }
  if (bad) {
    ++fails;
    err << "\n  " << what << ": " << bad << " of " << ref.numel() << " elements differ, first at "
        << coords(ref.shape(), first) << ": gpu " << got.data()[first] << ", cpu " << ref.data()[first] << " (tol "
        << tol << ")";
  }
}

// Runs one op on both backends and compares everything the contract promises.
void check_against_cpu(const std::string& name, const OpCall& call, const std::vector<Tensor>& xs, uint64_t seed,
                       double rel = 1e-4) {
  const OpInfo& info = op_info(call.op);
  std::vector<Shape> shapes;
  for (const Tensor& t : xs) shapes.push_back(t.shape());
  const Shape out_shape = infer_shape(call, shapes);
  const size_t n = xs.size();
  std::ostringstream err;
  int fails = 0;

  Inputs cin, gin;
  std::vector<Tensor> dx;
  for (const Tensor& t : xs) dx.push_back(gpu().from_host(t));
  for (size_t i = 0; i < n; ++i) cin.push_back(&xs[i]), gin.push_back(&dx[i]);

  Tensor y_cpu(out_shape);
  cpu::forward(call, cin, y_cpu);
  Tensor y = guarded(out_shape, kNaN), y2 = guarded(out_shape, 7.5f);
  gpu().forward(call, gin, y);
  gpu().forward(call, gin, y2);
  gpu().synchronize();
  const Tensor yh = host(y);
  compare("forward", y_cpu, yh, err, fails, rel);
  if (!guard_intact(y)) ++fails, err << "\n  forward wrote past the end of its output";
  if (!same_bits(yh, host(y2))) ++fails, err << "\n  forward is not deterministic (or reads its output)";

  const Tensor dy_h = random_tensor(out_shape, seed ^ 0x5EEDull);
  const Tensor dy = gpu().from_host(dy_h);
  Inputs cin_b(n, nullptr), gin_b(n, nullptr);
  if (info.backward_needs_inputs) cin_b = cin, gin_b = gin;
  const Tensor cout_b = info.backward_needs_output ? y_cpu : Tensor(), gout_b = info.backward_needs_output ? y : Tensor();
  std::vector<Tensor> cg, gg;
  Grads cgp, ggp;
  for (size_t i = 0; i < n; ++i) cg.emplace_back(xs[i].shape()), gg.push_back(guarded(xs[i].shape(), kNaN));
  for (size_t i = 0; i < n; ++i) cgp.push_back(&cg[i]), ggp.push_back(&gg[i]);
  cpu::backward(call, cin_b, cout_b, dy_h, cgp);
  gpu().backward(call, gin_b, gout_b, dy, ggp);
  gpu().synchronize();
  std::vector<Tensor> gh;
  for (size_t i = 0; i < n; ++i) {
    gh.push_back(host(gg[i]));
    compare("din[" + std::to_string(i) + "]", cg[i], gh[i], err, fails, rel);
    if (!guard_intact(gg[i])) ++fails, err << "\n  backward wrote past the end of din[" << i << "]";
  }
  // One gradient at a time: the others are null and must not be touched or needed.
  for (size_t i = 0; i < n && n > 1; ++i) {
    Grads one(n, nullptr);
    Tensor g1 = guarded(xs[i].shape(), kNaN);
    one[i] = &g1;
    gpu().backward(call, gin_b, gout_b, dy, one);
    if (!same_bits(host(g1), gh[i])) ++fails, err << "\n  din[" << i << "] alone differs from all requested";
  }
  for (size_t i = 0; i < n; ++i)
    if (!same_bits(host(dx[i]), xs[i])) ++fails, err << "\n  input " << i << " was modified";
  if (!same_bits(host(dy), dy_h)) ++fails, err << "\n  backward modified dy";
  if (fails) throw Failure(name + ": " + std::to_string(fails) + " failure(s)" + err.str());
}

// Central differences of L = sum(y * R) on the GPU against the GPU's analytic gradients.
void check_gradient_on_gpu(const OpCase& c) {
  const uint64_t seed = name_seed(c.name);
  std::vector<Tensor> xs = make_inputs(c, seed);
  const Shape out_shape = infer_shape(c.call, c.shapes());
  const Tensor r = random_tensor(out_shape, seed ^ 0x5EEDull);
  const size_t n = xs.size();
  auto loss = [&](const std::vector<Tensor>& hx) {
    std::vector<Tensor> d;
    Inputs in;
    for (const Tensor& t : hx) d.push_back(gpu().from_host(t));
    for (Tensor& t : d) in.push_back(&t);
    Tensor y = gpu().alloc(out_shape);
    gpu().forward(c.call, in, y);
    const Tensor yh = host(y);
    double s = 0;
    for (int64_t k = 0; k < yh.numel(); ++k) s += static_cast<double>(yh.data()[k]) * r.data()[k];
    return s;
  };
  std::vector<Tensor> d;
  Inputs in;
  for (const Tensor& t : xs) d.push_back(gpu().from_host(t));
  for (Tensor& t : d) in.push_back(&t);
  Tensor y = gpu().alloc(out_shape);
  gpu().forward(c.call, in, y);
  std::vector<Tensor> g;
  Grads gp;
  for (size_t i = 0; i < n; ++i) g.push_back(gpu().alloc(xs[i].shape()));
  for (Tensor& t : g) gp.push_back(&t);
  gpu().backward(c.call, in, y, gpu().from_host(r), gp);
  std::ostringstream err;
  int fails = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!c.inputs[i].differentiable) continue;
    const Tensor gh = host(g[i]);
    const double step = fd_step(c, static_cast<int>(i));
    const int64_t count = xs[i].numel(), samples = std::min<int64_t>(count, 16);
    std::vector<double> num(samples), ana(samples);
    double scale = 0;
    for (int64_t s = 0; s < samples; ++s) {
      const int64_t k = samples == count ? s : s * (count - 1) / (samples - 1);
      float& v = xs[i].data()[k];
      const float orig = v, hi = static_cast<float>(orig + step), lo = static_cast<float>(orig - step);
      v = hi;
      const double l_hi = loss(xs);
      v = lo;
      const double l_lo = loss(xs);
      v = orig;
      num[s] = (l_hi - l_lo) / (static_cast<double>(hi) - lo);
      ana[s] = gh.data()[k];
      scale = std::max({scale, std::fabs(num[s]), std::fabs(ana[s])});
    }
    for (int64_t s = 0; s < samples; ++s)
      if (!(std::fabs(num[s] - ana[s]) <= c.atol + c.rtol * scale))
        ++fails, err << "\n  d/d input " << i << " sample " << s << ": analytic " << ana[s] << ", numeric " << num[s];
  }
  if (fails) throw Failure(c.name + ": " + std::to_string(fails) + " gradient mismatch(es)" + err.str());
}

OpCall conv_call(int stride, int dilation, PadMode mode, std::array<int, 4> p = {}, int groups = 1) {
  Conv2dAttrs a;
  a.win.stride_h = a.win.stride_w = stride;
  a.win.dilation_h = a.win.dilation_w = dilation;
  a.win.pad_mode = mode;
  a.win.pad_top = p[0], a.win.pad_bottom = p[1], a.win.pad_left = p[2], a.win.pad_right = p[3];
  a.groups = groups;
  return {Op::Conv2d, a};
}

OpCall pool_call(Op op, int k, int s, PadMode mode, int pad, bool ceil, bool include_pad) {
  PoolAttrs a;
  a.win.kernel_h = a.win.kernel_w = k;
  a.win.stride_h = a.win.stride_w = s;
  a.win.pad_mode = mode;
  a.win.pad_top = a.win.pad_bottom = a.win.pad_left = a.win.pad_right = pad;
  a.win.ceil_mode = ceil;
  a.count_include_pad = include_pad;
  return {op, a};
}

struct LargeCase {
  std::string name;
  OpCall call;
  std::vector<Shape> shapes;
};

// Shapes past one GEMM tile (128 x 64 x 16), with split-K, multi-chunk
// reductions and the block-per-row softmax.
std::vector<LargeCase> large_cases() {
  using M = PadMode;
  PadAttrs reflect{PadKind::Reflect, 0.f, {0, 3, 2, 0, 0, 4, 3, 0}}, edge{PadKind::Edge, 0.f, {1, 2, 0, 0, 0, 5, 1, 2}};
  PadAttrs constant{PadKind::Constant, -0.25f, {0, 1, 2, 3, 1, 0, 4, 1}};
  return {
      {"conv2d.vgg_like", conv_call(1, 1, M::Explicit, {1, 1, 1, 1}), {{2, 20, 20, 32}, {3, 3, 32, 80}, {80}}},
      {"conv2d.first_layer", conv_call(1, 1, M::SameUpper), {{1, 37, 29, 3}, {3, 3, 3, 64}, {64}}},
      {"conv2d.groups3_stride2_dilation2", conv_call(2, 2, M::Explicit, {1, 2, 2, 1}, 3),
       {{2, 17, 19, 24}, {3, 3, 8, 48}, {48}}},
      {"conv2d.depthwise", conv_call(2, 1, M::SameUpper, {}, 32), {{2, 21, 21, 32}, {3, 3, 1, 32}, {32}}},
      {"conv2d.pointwise", conv_call(1, 1, M::Valid), {{2, 16, 16, 64}, {1, 1, 64, 130}}},
      {"conv2d.deep_split_k", conv_call(1, 1, M::Explicit, {1, 1, 1, 1}), {{1, 7, 7, 256}, {3, 3, 256, 96}, {96}}},
      {"dense.big", {Op::Dense, DenseAttrs{}}, {{300, 200}, {200, 130}, {130}}},
      {"dense.batch1_split_k", {Op::Dense, DenseAttrs{}}, {{1, 1000}, {1000, 300}, {300}}},
      {"gram.big", {Op::Gram, NoAttrs{}}, {{2, 30, 30, 70}}},
      {"max_pool.vgg", pool_call(Op::MaxPool, 2, 2, M::Valid, 0, false, false), {{2, 32, 32, 64}}},
      {"max_pool.k3s2_pad1_ceil", pool_call(Op::MaxPool, 3, 2, M::Explicit, 1, true, false), {{1, 33, 33, 16}}},
      {"avg_pool.same_include_pad", pool_call(Op::AvgPool, 3, 2, M::SameUpper, 0, false, true), {{2, 17, 17, 24}}},
      {"global_avg_pool.big", {Op::GlobalAvgPool, NoAttrs{}}, {{2, 40, 40, 96}}},
      {"global_max_pool.big", {Op::GlobalMaxPool, NoAttrs{}}, {{2, 20, 20, 50}}},
      {"softmax.rows", {Op::Softmax, AxisAttrs{-1}}, {{4, 1000}}},
      {"log_softmax.rows", {Op::LogSoftmax, AxisAttrs{-1}}, {{4, 1000}}},
      {"softmax.cols", {Op::Softmax, AxisAttrs{1}}, {{2, 50, 40}}},
      {"lrn.size5", {Op::Lrn, LrnAttrs{5, 1e-2f, 0.75f, 1.f}}, {{2, 8, 8, 64}}},
      {"add.bcast_channels", {Op::Add, NoAttrs{}}, {{4, 16, 16, 64}, {64}}},
      {"add.bcast_general", {Op::Add, NoAttrs{}}, {{3, 1, 40, 1, 5}, {1, 6, 1, 7, 5}}},
      {"mul.bcast_general", {Op::Mul, NoAttrs{}}, {{3, 1, 40, 1, 5}, {1, 6, 1, 7, 5}}},
      {"concat.channels", {Op::Concat, AxisAttrs{3}}, {{2, 10, 10, 30}, {2, 10, 10, 34}}},
      {"mse_loss.big", {Op::MseLoss, NoAttrs{}}, {{300000}, {300000}}},
      {"rms_loss.big", {Op::RmsLoss, NoAttrs{}}, {{2, 100, 100, 8}, {2, 100, 100, 8}}},
      {"sum_squares.big", {Op::SumSquares, NoAttrs{}}, {{1, 200, 300, 3}}},
      {"pad.reflect", {Op::Pad, reflect}, {{2, 30, 30, 8}}},
      {"pad.edge", {Op::Pad, edge}, {{2, 12, 13, 8}}},
      {"pad.constant", {Op::Pad, constant}, {{2, 12, 13, 8}}},
      {"resize_bilinear.up", {Op::ResizeBilinear, ResizeAttrs{57, 71, ResizeCoord::HalfPixel}}, {{2, 20, 30, 8}}},
      {"resize_bilinear.down", {Op::ResizeBilinear, ResizeAttrs{21, 17, ResizeCoord::AlignCorners}}, {{1, 64, 64, 4}}},
      {"transpose.nhwc_to_nchw", {Op::Transpose, TransposeAttrs{{0, 3, 1, 2}}}, {{2, 30, 40, 16}}},
  };
}

std::vector<Tensor> large_inputs(const LargeCase& c) {
  std::vector<Tensor> xs;
  for (size_t i = 0; i < c.shapes.size(); ++i) {
    const bool variance = c.call.op == Op::BatchNorm && i == 4;  // must stay positive
    xs.push_back(random_tensor(c.shapes[i], name_seed(c.name) + i, variance ? 0.5f : -1.f, variance ? 1.5f : 1.f));
  }
  return xs;
}

// Small enough for the CPU, big enough that every GEMM tile path runs.
Graph style_graph() {
  Graph g;
  auto input = [&](const char* name, Shape s) {
    GraphNode n;
    n.kind = GraphNode::Kind::Input, n.name = name, n.shape = std::move(s);
    g.nodes.push_back(n);
  };
  auto param = [&](const char* name, Shape s, uint64_t seed) {
    GraphNode n;
    n.kind = GraphNode::Kind::Param, n.name = name, n.value = random_tensor(s, seed, -0.5f, 0.5f);
    g.nodes.push_back(n);
  };
  auto op = [&](const char* name, OpCall call, std::vector<int> in) {
    GraphNode n;
    n.kind = GraphNode::Kind::Op, n.name = name, n.call = std::move(call), n.inputs = std::move(in);
    g.nodes.push_back(n);
  };
  input("x", {1, 24, 24, 3});                                                     // 0
  param("w1", {3, 3, 3, 16}, 1), param("b1", {16}, 2);                            // 1, 2
  op("conv1", conv_call(1, 1, PadMode::Explicit, {1, 1, 1, 1}), {0, 1, 2});       // 3
  op("relu1", {Op::Relu, NoAttrs{}}, {3});                                        // 4
  op("pool1", pool_call(Op::MaxPool, 2, 2, PadMode::Valid, 0, false, false), {4});  // 5
  param("w2", {3, 3, 16, 72}, 3);                                                 // 6
  op("conv2", conv_call(1, 1, PadMode::SameUpper), {5, 6});                       // 7
  op("relu2", {Op::Relu, NoAttrs{}}, {7});                                        // 8
  op("gram", {Op::Gram, NoAttrs{}}, {8});                                         // 9
  param("target", {1, 72, 72}, 4);                                                // 10
  op("style", {Op::MseLoss, NoAttrs{}}, {9, 10});                                 // 11
  op("energy", {Op::SumSquares, NoAttrs{}}, {4});                                 // 12
  op("total", {Op::Add, NoAttrs{}}, {11, 12});                                    // 13
  return g;
}

const bool registered = [] {
  for (const OpCase& c : op_cases()) {
    const std::string name = "cuda.op_table." + c.name;
    registry().push_back({name, __FILE__, [c, name] {
                            if (!ready(name.c_str())) return;
                            const uint64_t seed = name_seed(c.name);
                            check_against_cpu(name, c.call, make_inputs(c, seed), seed);
                          }});
  }
  // TF32 tensor cores (a Program's QueueOptions::tf32): every case of the ops
  // that run on the GEMM, within 1e-2 of the CPU's fp32.
  for (const OpCase& c : op_cases()) {
    if (c.call.op != Op::Conv2d && c.call.op != Op::Dense && c.call.op != Op::Gram) continue;
    const std::string name = "cuda.tf32." + c.name;
    registry().push_back({name, __FILE__, [c, name] {
                            if (!ready(name.c_str())) return;
                            auto queue = gpu().make_queue(QueueOptions{true});
                            QueueScope scope(gpu(), queue.get());
                            const uint64_t seed = name_seed(c.name);
                            check_against_cpu(name, c.call, make_inputs(c, seed), seed, 1e-2);
                          }});
  }
  for (const LargeCase& c : large_cases()) {
    const std::string name = "cuda.large." + c.name;
    registry().push_back({name, __FILE__, [c, name] {
                            if (ready(name.c_str())) check_against_cpu(name, c.call, large_inputs(c), name_seed(c.name));
                          }});
  }
  const char* fd_cases[] = {"conv2d.pad1_bias", "conv2d.stride2_dilation2_groups2", "conv2d.depthwise_mult2_stride2",
                            "dense.leading_dims_bias", "max_pool.k3s2_ceil_pad1", "avg_pool.k3s2_ceil_include_pad",
                            "lrn.size5", "resize_bilinear.half_pixel_down", "pad.reflect", "batch_norm.nhwc",
                            "gram.batch2", "softmax.middle_axis", "rms_loss.rank3"};
  for (const OpCase& c : op_cases())
    for (const char* want : fd_cases)
      if (c.name == want) {
        const std::string name = "cuda.gradcheck." + c.name;
        registry().push_back({name, __FILE__, [c, name] {
                                if (ready(name.c_str())) check_gradient_on_gpu(c);
                              }});
      }
  return true;
}();

}  // namespace
}  // namespace ec::test

using namespace ec;

TEST(cuda_backend_availability) {
  if (!test::ready("cuda_backend_availability")) return;
  Backend& b = backend_by_name("cuda");
  for (int k = 0; k < kOpCount; ++k) CHECK(b.supports(OpCall{static_cast<Op>(k), NoAttrs{}}));
}

// Without a device (CI): a clear reason, Programs refuse with it, allocation
// throws ec::Error (no abort). Its name lacks "cuda": it runs with the CPU tests.
TEST(no_gpu_device_is_a_clear_error) {
  std::string why;
  Backend& b = backend_by_name("cuda");
  if (b.available(&why)) SKIP("a CUDA device is present");
  if (why.rfind("no CUDA device", 0) != 0) EC_FAIL("unexpected reason: " << why);
  CHECK_THROWS((void)Program(test::style_graph(), b), "cuda backend: no CUDA device");
  CHECK_THROWS(b.alloc({4}), "cuda: ");
  CHECK(&backend_by_name("auto") == &backend_by_name("cpu"));
}

// A Program compiled with tf32 takes the tensor-core path (its results move
// off the fp32 ones) and stays within 1e-2 of them.
TEST(cuda_tf32_program) {
  if (!test::ready("cuda_tf32_program")) return;
  const Tensor x = test::random_tensor({1, 24, 24, 3}, 17);
  Program fp32(test::style_graph(), backend_by_name("cuda")), tf32(test::style_graph(), backend_by_name("cuda"), QueueOptions{true});
  const Tensor a = fp32.forward({{"x", x}}, {"gram"}, false)["gram"], b = tf32.forward({{"x", x}}, {"gram"}, false)["gram"];
  double diff = 0, scale = 1;
  for (int64_t i = 0; i < a.numel(); ++i)
    diff = std::max(diff, std::fabs(double(a.data()[i]) - b.data()[i])), scale = std::max(scale, std::fabs(double(a.data()[i])));
  if (!(diff > 0)) EC_FAIL("tf32 gave the fp32 bits: the tensor-core path did not run");
  if (!(diff <= 1e-2 * scale)) EC_FAIL("tf32 differs from fp32 by " << diff << " (scale " << scale << ")");
}

TEST(cuda_program_matches_cpu) {
  if (!test::ready("cuda_program_matches_cpu")) return;
  const Tensor x = test::random_tensor({1, 24, 24, 3}, 7);
  std::map<std::string, Tensor> res[2];
  BackwardResult grads[2];
  for (int k = 0; k < 2; ++k) {
    Program p(test::style_graph(), backend_by_name(k ? "cuda" : "cpu"));
    res[k] = p.forward({{"x", x}}, {"total", "gram"}, true);
    grads[k] = p.backward({{"total", Tensor::from({}, {1.f})}}, {"w1", "b1", "w2"}, true);
  }
  std::ostringstream err;
  int fails = 0;
  for (const char* t : {"total", "gram"}) test::compare(t, res[0][t], res[1][t], err, fails);
  test::compare("d/dx", grads[0].inputs["x"], grads[1].inputs["x"], err, fails);
  for (const char* p : {"w1", "b1", "w2"}) test::compare(std::string("d/d") + p, grads[0].params[p], grads[1].params[p], err, fails);
  if (fails) EC_FAIL(fails << " mismatch(es)" << err.str());
}

// Results left in device memory feed a second Program and come back equal to
// the host path; a device tensor fed to a CPU Program is refused by name.
TEST(cuda_program_device_results) {
  if (!test::ready("cuda_program_device_results")) return;
  const Tensor x = test::random_tensor({1, 24, 24, 3}, 11);
  Program host_p(test::style_graph(), backend_by_name("cuda")), dev_p(test::style_graph(), backend_by_name("cuda"));
  auto want = host_p.forward({{"x", x}}, {"total", "gram"}, true);
  auto want_g = host_p.backward({{"total", Tensor::from({}, {1.f})}}, {"w1"}, true);
  const Tensor dx = test::gpu().from_host(x);
  auto got = dev_p.forward({{"x", dx}}, {"total", "gram"}, true, true);
  CHECK(got["total"].device() == Device::Cuda && got["gram"].device() == Device::Cuda);
  auto got_g = dev_p.backward({{"total", test::gpu().from_host(Tensor::from({}, {1.f}))}}, {"w1"}, true, true);
  CHECK(got_g.inputs["x"].device() == Device::Cuda && got_g.params["w1"].device() == Device::Cuda);
  CHECK(test::same_bits(want["gram"], test::host(got["gram"])));
  CHECK(test::same_bits(want_g.inputs["x"], test::host(got_g.inputs["x"])));
  CHECK(test::same_bits(want_g.params["w1"], test::host(got_g.params["w1"])));
  Program cpu_p(test::style_graph(), backend_by_name("cpu"));
  CHECK_THROWS(cpu_p.forward({{"x", dx}}, {"total"}, false), "input 'x' is in CUDA device memory");
}

// Programs on different threads run on their own streams; each result
// matches the CPU's, and the stream-keyed block cache leaves no cross-talk.
TEST(cuda_programs_on_threads) {
  if (!test::ready("cuda_programs_on_threads")) return;
  Program cpu_p(test::style_graph(), backend_by_name("cpu"));
  std::vector<Tensor> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(test::random_tensor({1, 24, 24, 3}, 100 + i));
    want.push_back(cpu_p.forward({{"x", xs.back()}}, {"gram"}, false)["gram"]);
  }
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      try {
        Program p(test::style_graph(), backend_by_name("cuda"));
        for (int rep = 0; rep < 3; ++rep)
          for (int i = 0; i < 4; ++i) {
            const int k = (i + t) % 4;
            Tensor got = p.forward({{"x", xs[k]}}, {"gram"}, false)["gram"];
            std::ostringstream err;
            int fails = 0;
            test::compare("gram", want[k], got, err, fails);
            if (fails) errors[t] += err.str();
          }
      } catch (const std::exception& e) {
        errors[t] += e.what();
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t)
    if (!errors[t].empty()) EC_FAIL("thread " << t << ": " << errors[t]);
}

// A cached block keeps its own size when a smaller request reuses it (it
// once took the request's size, so the block shrank in the cache's books and
// every style transfer needed new blocks).
TEST(cuda_allocator_keeps_block_sizes) {
  if (!test::ready("cuda_allocator_keeps_block_sizes")) return;
  const int64_t big = int64_t{2} << 20, smaller = int64_t{3} << 19;  // 8 MiB, 6 MiB
  { Tensor a = cuda::device_alloc({big}); }
  size_t free0 = 0, free1 = 0, total = 0;
  EC_CUDA_CHECK(cudaMemGetInfo(&free0, &total));
  for (int i = 0; i < 20; ++i) {
    { Tensor b = cuda::device_alloc({smaller}); }
    { Tensor c = cuda::device_alloc({big}); }
  }
  EC_CUDA_CHECK(cudaMemGetInfo(&free1, &total));
  if (free1 != free0) EC_FAIL("free device memory went from " << free0 << " to " << free1 << " bytes");
}

// Out of device memory is an ec::Error naming the size and what is free;
// the cache and the device stay usable afterwards.
TEST(cuda_out_of_memory_is_an_error) {
  if (!test::ready("cuda_out_of_memory_is_an_error")) return;
  CHECK_THROWS(cuda::device_alloc({int64_t{1} << 38}), "cuda: out of device memory: 1048576 MiB asked for tensor [274877906944]");
  CHECK(cudaGetLastError() == cudaSuccess);
  const Tensor x = test::random_tensor({3, 5}, 3);
  CHECK(test::same_bits(test::host(test::gpu().from_host(x)), x));
}

// Inference fuses conv + ReLU / clip on the GPU as on the CPU: in the GEMM's
// store, after split-K's sums, and after the depthwise kernel.
TEST(cuda_fused_activations_match_cpu) {
  if (!test::ready("cuda_fused_activations_match_cpu")) return;
  Graph g;
  auto node = [&](GraphNode n) { g.nodes.push_back(std::move(n)); };
  auto param = [&](const char* name, Shape s, uint64_t seed) {
    GraphNode n;
    n.kind = GraphNode::Kind::Param, n.name = name, n.value = test::random_tensor(s, seed, -0.5f, 0.5f);
    node(n);
  };
  auto op = [&](const char* name, OpCall call, std::vector<int> in) {
    GraphNode n;
    n.kind = GraphNode::Kind::Op, n.name = name, n.call = std::move(call), n.inputs = std::move(in);
    node(n);
  };
  GraphNode x;
  x.kind = GraphNode::Kind::Input, x.name = "x", x.shape = {1, 12, 12, 8};
  node(x);                                                                          // 0
  param("w1", {3, 3, 8, 256}, 1), param("b1", {256}, 2);                            // 1, 2
  op("conv1", test::conv_call(1, 1, PadMode::SameUpper), {0, 1, 2});                // 3
  op("relu1", {Op::Relu, NoAttrs{}}, {3});                                          // 4
  param("w2", {1, 1, 256, 32}, 3), param("b2", {32}, 4);                            // 5, 6 (K = 256: split-K)
  op("conv2", test::conv_call(1, 1, PadMode::Valid), {4, 5, 6});                    // 7
  op("relu2", {Op::Relu, NoAttrs{}}, {7});                                          // 8
  param("w3", {3, 3, 1, 32}, 5);                                                    // 9 (depthwise)
  OpCall dw = test::conv_call(1, 1, PadMode::SameUpper);
  std::get<Conv2dAttrs>(dw.attrs).groups = 32;
  op("conv3", dw, {8, 9});                                                          // 10
  op("clip3", {Op::Clip, ClipAttrs{0.f, 0.25f}}, {10});                             // 11
  const Tensor in = test::random_tensor({1, 12, 12, 8}, 9);
  Program cpu_p(g, backend_by_name("cpu")), gpu_p(g, backend_by_name("cuda"));
  for (const char* tap : {"relu1", "clip3"}) {
    const Tensor want = cpu_p.forward({{"x", in}}, {tap}, false)[tap], got = gpu_p.forward({{"x", in}}, {tap}, false)[tap];
    std::ostringstream err;
    int fails = 0;
    test::compare(tap, want, got, err, fails);
    if (fails) EC_FAIL(err.str());
  }
}

TEST(cuda_vecops_match_cpu) {
  if (!test::ready("cuda_vecops_match_cpu")) return;
  Backend& b = backend_by_name("cuda");
  const Tensor a = test::random_tensor({2, 37, 41, 3}, 11), c = test::random_tensor({2, 37, 41, 3}, 12);
  const Tensor da = b.from_host(a), dc = b.from_host(c);
  auto rel = [](double x, double y) { return std::fabs(x - y) / std::max(1.0, std::fabs(y)); };
  CHECK(rel(cuda::vec_dot(da, dc), cpu::vec_dot(a, c)) < 1e-9);
  CHECK(rel(cuda::vec_norm1(da), cpu::vec_norm1(a)) < 1e-9);
  CHECK(rel(cuda::vec_norm2(da), cpu::vec_norm2(a)) < 1e-9);
  CHECK_THROWS(cuda::vec_dot(da, b.from_host(Tensor(Shape{3}))), "dot: tensors of");
  auto same = [&](const Tensor& gpu_t, const Tensor& cpu_t) {
    const Tensor h = b.to_host(gpu_t);
    for (int64_t k = 0; k < h.numel(); ++k)
      if (!(std::fabs(h.data()[k] - cpu_t.data()[k]) <= 1e-6f * std::max(1.f, std::fabs(cpu_t.data()[k])))) return false;
    return true;
  };
  Tensor hy = c.clone(), dy = b.from_host(c);
  cpu::vec_axpy(0.3f, a, hy), cuda::vec_axpy(0.3f, da, dy);
  CHECK(same(dy, hy));
  cpu::vec_scale(hy, -1.7f), cuda::vec_scale(dy, -1.7f);
  CHECK(same(dy, hy));
  cpu::vec_clamp_channels(hy, {-0.5f, 0.f, -1.f}, {0.5f, 0.2f, 2.f});
  cuda::vec_clamp_channels(dy, {-0.5f, 0.f, -1.f}, {0.5f, 0.2f, 2.f});
  CHECK(same(dy, hy));
  Tensor hm(a.shape()), hv(a.shape()), hx = a.clone();
  Tensor dm = b.from_host(hm), dv = b.from_host(hv), dx = b.from_host(a);
  for (int t = 1; t <= 3; ++t) {
    cpu::vec_adam_step(hx, c, hm, hv, 0.01f, 0.9f, 0.999f, 1e-8f, t);
    cuda::vec_adam_step(dx, dc, dm, dv, 0.01f, 0.9f, 0.999f, 1e-8f, t);
  }
  CHECK(same(dx, hx) && same(dm, hm) && same(dv, hv));
  CHECK(same(cuda::vec_roll(da, -5, 17), cpu::vec_roll(a, -5, 17)));
}

// The caching allocator: after a warm-up, 1000 forward/backward passes that
// allocate their outputs and gradients every time leave device memory as it was.
TEST(cuda_memory_conv_repeat_1000) {
  if (!test::ready("cuda_memory_conv_repeat_1000")) return;
  Backend& b = backend_by_name("cuda");
  const OpCall call = test::conv_call(1, 1, PadMode::Explicit, {1, 1, 1, 1});
  const Tensor x = b.from_host(test::random_tensor({2, 32, 32, 16}, 1));
  const Tensor w = b.from_host(test::random_tensor({3, 3, 16, 32}, 2)), bias = b.from_host(test::random_tensor({32}, 3));
  const Tensor dy = b.from_host(test::random_tensor({2, 32, 32, 32}, 4));
  const Inputs in = {&x, &w, &bias};
  auto pass = [&] {
    Tensor y = b.alloc({2, 32, 32, 32}), dx = b.alloc(x.shape()), dw = b.alloc(w.shape()), db = b.alloc(bias.shape());
    b.forward(call, in, y);
    b.backward(call, in, Tensor(), dy, {&dx, &dw, &db});
  };
  for (int i = 0; i < 3; ++i) pass();
  b.synchronize();
  size_t free0 = 0, free1 = 0, total = 0;
  EC_CUDA_CHECK(cudaMemGetInfo(&free0, &total));
#ifdef EC_CUDA_EMULATOR
  const int passes = 10;  // the emulator runs a pass in about 0.3 s; the allocator's reuse shows as well
#else
  const int passes = 1000;
#endif
  for (int i = 0; i < passes; ++i) pass();
  b.synchronize();
  EC_CUDA_CHECK(cudaMemGetInfo(&free1, &total));
  if (free1 != free0) EC_FAIL("free device memory went from " << free0 << " to " << free1 << " bytes");
}

#else  // no CUDA in this build

TEST(cuda_not_compiled) { SKIP("the CUDA backend is not compiled in this build"); }

#endif
