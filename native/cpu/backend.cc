// The CPU backend: host memory and one dispatch switch over the op set.
#include <cstring>

#include "kernels.h"
#include "vecops.h"

namespace ec::cpu {

void forward(const OpCall& call, const Inputs& in, Tensor& out) {
  switch (call.op) {
    EC_OPS(EC_FORWARD_CASE)
    case Op::COUNT: break;
  }
  throw Error("cpu backend: op id " + std::to_string(static_cast<int>(call.op)) + " is not implemented");
}

void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy, const Grads& din) {
  switch (call.op) {
    EC_OPS(EC_BACKWARD_CASE)
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
  bool max_pool_relu_backward_in_place(const OpCall& pool, Tensor& x, const Tensor& dy) override {
    return cpu::max_pool_relu_backward_in_place(pool, x, dy);
  }
  Tensor to_host(const Tensor& t) override { return t; }
  Tensor from_host(const Tensor& t) override { return t; }
  void forward(const OpCall& call, const Inputs& in, Tensor& out) override { cpu::forward(call, in, out); }
  void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy,
                const Grads& din) override {
    cpu::backward(call, in, out, dy, din);
  }
  const VecOps& vec() const override {
    static const VecOps ops = EC_VEC_OPS;
    return ops;
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace ec::cpu
