// Times VGG19's conv stack on our CUDA kernels: torchvision's "features" (16
// 3x3 convs with bias and ReLU, 5 2x2 max pools), random He-scaled weights,
// NHWC, fp32. Modes: fwd (forward only), fwd+bwd_x (forward, then the
// gradient of sum(output) with respect to the input image: what dream and
// style transfer run) and fwd+bwd (input and all weight gradients).
//
//   bench_cuda [SIZE:BATCH ...]     default 224:1 224:8 512:1 512:8
//
// Prints one "RESULT eyecandy <size> <batch> <mode> <ms> <gflops>" line per
// run (mean over timed iterations after two warm-ups), for
// scripts/device-check.sh to set against bench/gpu/torch_vgg19.py.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/backend.h"
#include "cuda/common.cuh"

using namespace ec;

namespace {

struct Step {
  OpCall call;
  int w = -1, b = -1;  // parameter indices (conv only)
  Shape out;
};

struct Vgg {
  std::vector<Tensor> params;  // device
  std::vector<Step> steps;
  double gflop = 0;  // forward conv FLOPs (2 per multiply-add)
};

Vgg build(Backend& be, int size, int batch) {
  const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0};
  Vgg v;
  Shape cur = {batch, size, size, 3};
  uint64_t state = 0x1234567ull;
  auto uniform = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>((state >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f;
  };
  for (int c : cfg) {
    Step s;
    if (c == 0) {
      PoolAttrs p;
      p.win.kernel_h = p.win.kernel_w = p.win.stride_h = p.win.stride_w = 2;
      s.call = {Op::MaxPool, p};
    } else {
      const int64_t cin = cur[3];
      Tensor w({3, 3, cin, c}), bias({c});
      const float bound = std::sqrt(6.f / static_cast<float>(9 * cin));  // He uniform: activations stay O(1)
      for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] = bound * uniform();
      for (int64_t i = 0; i < c; ++i) bias.data()[i] = 0.01f * uniform();
      s.w = static_cast<int>(v.params.size());
      v.params.push_back(be.from_host(w));
      s.b = static_cast<int>(v.params.size());
      v.params.push_back(be.from_host(bias));
      Conv2dAttrs a;
      a.win.pad_top = a.win.pad_bottom = a.win.pad_left = a.win.pad_right = 1;
      s.call = {Op::Conv2d, a};
      v.gflop += 2.0 * batch * cur[1] * cur[2] * c * cin * 9 / 1e9;
    }
    std::vector<Shape> in = {cur};
    if (s.w >= 0) in.push_back(v.params[s.w].shape()), in.push_back(v.params[s.b].shape());
    s.out = infer_shape(s.call, in);
    v.steps.push_back(s);
    if (c) {  // ReLU after every conv
      Step r;
      r.call = {Op::Relu, NoAttrs{}};
      r.out = s.out;
      v.steps.push_back(r);
    }
    cur = s.out;
  }
  return v;
}

enum class Mode { Fwd, BwdX, BwdFull };

// One pass; returns nothing, the caller synchronizes.
void run(Backend& be, Vgg& v, const Tensor& x, Mode mode) {
  std::vector<Tensor> vals = {x};
  for (Step& s : v.steps) {
    Inputs in = {&vals.back()};
    if (s.w >= 0) in.push_back(&v.params[s.w]), in.push_back(&v.params[s.b]);
    Tensor out = be.alloc(s.out);
    be.forward(s.call, in, out);
    vals.push_back(out);
  }
  if (mode == Mode::Fwd) return;
  Tensor g = be.alloc(vals.back().shape());
  cuda::fill_cuda(g.data(), g.numel(), 1.f);  // d sum(output)
  std::vector<Tensor> wgrads(v.params.size());
  for (size_t k = v.steps.size(); k-- > 0;) {
    const Step& s = v.steps[k];
    const OpInfo& info = op_info(s.call.op);
    Inputs in = {info.backward_needs_inputs ? &vals[k] : nullptr};
    Tensor dx = be.alloc(vals[k].shape());
    Grads din = {&dx};
    if (s.w >= 0) {
      in.push_back(&v.params[s.w]), in.push_back(&v.params[s.b]);
      din.push_back(nullptr), din.push_back(nullptr);
      if (mode == Mode::BwdFull) {
        wgrads[s.w] = be.alloc(v.params[s.w].shape()), wgrads[s.b] = be.alloc(v.params[s.b].shape());
        din[1] = &wgrads[s.w], din[2] = &wgrads[s.b];
      }
    }
    be.backward(s.call, in, info.backward_needs_output ? vals[k + 1] : Tensor(), g, din);
    g = dx;
  }
}

double time_ms(Backend& be, Vgg& v, const Tensor& x, Mode mode) {
  for (int i = 0; i < 2; ++i) run(be, v, x, mode);  // warm-up: allocator cache, clocks
  be.synchronize();
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  int iters = 0;
  double elapsed = 0;
  while (iters < 3 || (elapsed < 1.0 && iters < 20)) {
    run(be, v, x, mode);
    be.synchronize();
    ++iters;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  }
  return 1000.0 * elapsed / iters;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Backend& be = backend_by_name("cuda");
    std::string why;
    if (!be.available(&why)) {
      std::printf("SKIP bench_cuda: %s\n", why.c_str());
      return 2;
    }
    const CudaInfo info = cuda_info();
    std::printf("device: %s\n", info.device_name.c_str());
    std::vector<std::string> runs;
    for (int i = 1; i < argc; ++i) runs.push_back(argv[i]);
    if (runs.empty()) runs = {"224:1", "224:8", "512:1", "512:8"};
    for (const std::string& r : runs) {
      const int size = std::atoi(r.c_str()), batch = std::atoi(r.c_str() + r.find(':') + 1);
      Vgg v = build(be, size, batch);
      Tensor xh({batch, size, size, 3});
      for (int64_t i = 0; i < xh.numel(); ++i) xh.data()[i] = static_cast<float>((i * 7919) % 1000) / 500.f - 1.f;
      const Tensor x = be.from_host(xh);
      const std::pair<Mode, const char*> modes[] = {{Mode::Fwd, "fwd"}, {Mode::BwdX, "fwd+bwd_x"}, {Mode::BwdFull, "fwd+bwd"}};
      for (const auto& [mode, name] : modes) {
        const double ms = time_ms(be, v, x, mode);
        const double work = v.gflop * (mode == Mode::Fwd ? 1 : mode == Mode::BwdX ? 2 : 3);
        std::printf("RESULT eyecandy %d %d %s %.3f %.0f\n", size, batch, name, ms, work / (ms / 1000.0));
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("FAIL bench_cuda: %s\n", e.what());
    return 1;
  }
}
