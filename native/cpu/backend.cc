// The CPU backend: host memory and one dispatch switch over the op set.
#include "kernels.h"

#include <cstring>

#include "kernels.h"

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
  Tensor to_host(const Tensor& t) override { return t; }
  Tensor from_host(const Tensor& t) override { return t; }
  void forward(const OpCall& call, const Inputs& in, Tensor& out) override { cpu::forward(call, in, out); }
  void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy,
                const Grads& din) override {
    cpu::backward(call, in, out, dy, din);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend b;
  return b;
}

}  // namespace ec::cpu
