// Pointwise activations on the GPU: relu, clip, leaky_relu, sigmoid, tanh, abs.
//
// One grid-stride kernel template per direction; the op is a small functor,
// so each activation is a handful of instructions around coalesced loads.
// Formulas match native/cpu/activation.cc exactly (same comparisons, same
// float expressions), so results agree to rounding of expf/tanhf.
#include "launch.cuh"

namespace ec::cuda {

namespace {

struct ReluF {
  __device__ float operator()(float x) const { return x > 0.f ? x : 0.f; }
};
struct ClipF {
  float lo, hi;
  __device__ float operator()(float x) const {
    const float v = x < lo ? lo : x;
    return v > hi ? hi : v;
  }
};
struct LeakyF {
  float alpha;
  __device__ float operator()(float x) const { return x > 0.f ? x : alpha * x; }
};
struct SigmoidF {
  __device__ float operator()(float x) const { return 1.f / (1.f + expf(-x)); }
};
struct TanhF {
  __device__ float operator()(float x) const { return tanhf(x); }
};
struct AbsF {
  __device__ float operator()(float x) const { return fabsf(x); }
};

// Backward functors take (saved value, dy): the output for relu / sigmoid /
// tanh (their inputs are not kept), the input for clip / leaky_relu.
struct ReluB {
  __device__ float operator()(float y, float g) const { return y > 0.f ? g : 0.f; }
};
struct ClipB {
  float lo, hi;  // strict: zero gradient at the bounds, as relu6 in TF
  __device__ float operator()(float x, float g) const { return (x > lo && x < hi) ? g : 0.f; }
};
struct LeakyB {
  float alpha;
  __device__ float operator()(float x, float g) const { return x > 0.f ? g : alpha * g; }
};
struct SigmoidB {
  __device__ float operator()(float y, float g) const { return g * y * (1.f - y); }
};
struct TanhB {
  __device__ float operator()(float y, float g) const { return g * (1.f - y * y); }
};
struct AbsB {  // sign(x), 0 at 0
  __device__ float operator()(float x, float g) const { return x > 0.f ? g : x < 0.f ? -g : 0.f; }
};

template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n, F f) {
  EC_GRID_STRIDE(i, n) y[i] = f(x[i]);
}

template <class F>
__global__ void unary_grad_kernel(const float* s, const float* g, float* d, int64_t n, F f) {
  EC_GRID_STRIDE(i, n) d[i] = f(s[i], g[i]);
}

template <class F>
void run_unary(const Inputs& in, Tensor& out, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  unary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(in[0]->data(), out.data(), n, f);
  EC_CUDA_LAUNCH_CHECK();
}

template <class F>
void run_unary_grad(const Tensor& saved, const Tensor& dy, const Grads& din, F f) {
  Tensor* dx = grad_at(din, 0);
  if (!dx || dx->numel() == 0) return;
  unary_grad_kernel<<<blocks_for(dx->numel()), kThreads, 0, stream()>>>(saved.data(), dy.data(), dx->data(), dx->numel(), f);
  EC_CUDA_LAUNCH_CHECK();
}

}  // namespace

void relu_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) { run_unary(in, out, ReluF{}); }
void relu_backward_cuda(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  run_unary_grad(out, dy, din, ReluB{});
}

void clip_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  const auto& a = call.get<ClipAttrs>();
  run_unary(in, out, ClipF{a.lo, a.hi});
}
void clip_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  const auto& a = call.get<ClipAttrs>();
  run_unary_grad(*in[0], dy, din, ClipB{a.lo, a.hi});
}

void leaky_relu_forward_cuda(const OpCall& call, const Inputs& in, Tensor& out) {
  run_unary(in, out, LeakyF{call.get<LeakyReluAttrs>().alpha});
}
void leaky_relu_backward_cuda(const OpCall& call, const Inputs& in, const Tensor&, const Tensor& dy,
                              const Grads& din) {
  run_unary_grad(*in[0], dy, din, LeakyB{call.get<LeakyReluAttrs>().alpha});
}

void sigmoid_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) { run_unary(in, out, SigmoidF{}); }
void sigmoid_backward_cuda(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  run_unary_grad(out, dy, din, SigmoidB{});
}

void tanh_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) { run_unary(in, out, TanhF{}); }
void tanh_backward_cuda(const OpCall&, const Inputs&, const Tensor& out, const Tensor& dy, const Grads& din) {
  run_unary_grad(out, dy, din, TanhB{});
}

void abs_forward_cuda(const OpCall&, const Inputs& in, Tensor& out) { run_unary(in, out, AbsF{}); }
void abs_backward_cuda(const OpCall&, const Inputs& in, const Tensor&, const Tensor& dy, const Grads& din) {
  run_unary_grad(*in[0], dy, din, AbsB{});
}

}  // namespace ec::cuda
