// A backend runs ops on one kind of device. The Program asks `supports` for
// every node at compile time; a backend that lacks an op says so there, with
// the op's name, never by falling back to another device.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ops.h"

namespace ec {

using Inputs = std::vector<const Tensor*>;
using Grads = std::vector<Tensor*>;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // True when the backend can run here; otherwise `why` says what is missing
  // (e.g. "no CUDA device").
  virtual bool available(std::string* why) const = 0;
  virtual bool supports(const OpCall& call) const = 0;
  // A tensor in this backend's memory, contents unspecified.
  virtual Tensor alloc(const Shape& shape) = 0;
  virtual Tensor to_host(const Tensor& t) = 0;
  virtual Tensor from_host(const Tensor& t) = 0;
  // See native/cpu/kernels.h for the contract of forward and backward.
  virtual void forward(const OpCall& call, const Inputs& in, Tensor& out) = 0;
  virtual void backward(const OpCall& call, const Inputs& in, const Tensor& out, const Tensor& dy,
                        const Grads& din) = 0;
  // Waits for queued device work (no-op on the CPU).
  virtual void synchronize() {}
  // Whether conv2d honours Conv2dAttrs::epilogue (lets the Program fuse conv + relu/clip).
  virtual bool fuses_activation() const { return false; }
};

// The registry: "cpu" always; "cuda" where it was compiled in. Throws for an
// unknown name; "auto" picks cuda when a device answers, else cpu.
Backend& backend_by_name(const std::string& name);
std::vector<std::string> compiled_backends();

// Describes the CUDA side for `doctor`: compiled or not, devices, or why none.
struct CudaInfo {
  bool compiled = false;
  int device_count = 0;
  std::string device_name, error;
  int64_t total_memory = 0, free_memory = 0;
  int runtime_version = 0, driver_version = 0;
};
CudaInfo cuda_info();

}  // namespace ec
