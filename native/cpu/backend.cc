// The CPU backend: host memory and one dispatch switch over the op set.
#include <cstring>

#include "kernels.h"
#include "vecops.h"

namespace ec::cpu {

void forward(const OpCall& call, const Inputs& in, Tensor& out) {
  switch (call.op) {
#define EC_CASE(OP, name, fn, ...) \
  case Op::OP: return fn##_forward(call, in, out);
    EC_OPS(EC_CASE)
#undef EC_CASE
    case Op::COUNT: break;
  }
  throw Error("cpu backend: op id " + std::to_string(static_cast<int>(call.op)) + " is not implemented");
}

void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din) {
  switch (call.op) {
#define EC_CASE(OP, name, fn, ...) \
  case Op::OP: return fn##_backward(call, in, out, dy, din);
    EC_OPS(EC_CASE)
#undef EC_CASE
    case Op::COUNT: break;
  }
  throw Error("cpu backend: op id " + std::to_string(static_cast<int>(call.op)) + " is not implemented");
}

namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  bool available(std::string*) const override { return true; }
  bool supports(const OpCall& call) const override { return call.op != Op::COUNT; }
  Tensor alloc(const Shape& shape) override { return Tensor(shape); }
  bool fuses_activation() const override { return true; }
  void conv2d_fused(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep) override {
    conv2d_forward(call, in, out, ep);
  }
  Tensor to_host(const Tensor& t) override { return t; }
  Tensor from_host(const Tensor& t) override { return t; }
  void forward(const OpCall& call, const Inputs& in, Tensor& out) override { cpu::forward(call, in, out); }
  void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy,
                const Grads& din) override {
    cpu::backward(call, in, out, dy, din);
  }
  double vec_dot(const Tensor& a, const Tensor& b) override { return cpu::vec_dot(a, b); }
  void vec_axpy(float alpha, const Tensor& x, Tensor& y) override { cpu::vec_axpy(alpha, x, y); }
  void vec_scale(Tensor& x, float alpha) override { cpu::vec_scale(x, alpha); }
  double vec_norm1(const Tensor& x) override { return cpu::vec_norm1(x); }
  double vec_norm2(const Tensor& x) override { return cpu::vec_norm2(x); }
  void vec_clamp_channels(Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi) override {
    cpu::vec_clamp_channels(x, lo, hi);
  }
  void vec_adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, float eps,
                     int t) override {
    cpu::vec_adam_step(x, g, m, v, lr, beta1, beta2, eps, t);
  }
  Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx) override { return cpu::vec_roll(x, dy, dx); }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace ec::cpu
