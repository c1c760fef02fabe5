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

// Every backend's kernels: <kernel>_forward<SUFFIX> and _backward<SUFFIX> for
// each row of EC_OPS (flatten's row names reshape's kernels), with the
// contract in native/cpu/kernels.h. A backend defines EC_KERNEL_SUFFIX
// (possibly empty) and expands EC_OPS(EC_DECLARE_KERNEL).
#define EC_PASTE_(a, b) a##b
#define EC_PASTE(a, b) EC_PASTE_(a, b)
#define EC_DECLARE_KERNEL(Enum, name, kernel, ...)                                                       \
  void EC_PASTE(kernel##_forward, EC_KERNEL_SUFFIX)(const OpCall& call, const Inputs& in, Tensor& out); \
  void EC_PASTE(kernel##_backward, EC_KERNEL_SUFFIX)(const OpCall& call, const Inputs& in, const Tensor& out, \
                                                     const Tensor& dy, const Grads& din);
// The dispatch switch's cases over those kernels.
#define EC_FORWARD_CASE(Enum, name, kernel, ...) \
  case Op::Enum: return EC_PASTE(kernel##_forward, EC_KERNEL_SUFFIX)(call, in, out);
#define EC_BACKWARD_CASE(Enum, name, kernel, ...) \
  case Op::Enum: return EC_PASTE(kernel##_backward, EC_KERNEL_SUFFIX)(call, in, out, dy, din);

// Vector routines over whole tensors for optimizers and tasks, outside the
// graph (nothing differentiates through them): one call over a whole tensor,
// so L-BFGS, Adam and the Dream steps never loop over pixels in JS. "In
// place" routines overwrite their first tensor argument; sums accumulate in
// double. Each backend defines them in its namespace (EC_DECLARE_VEC_ROUTINES)
// for tensors in its memory and hands them out as a VecOps table.
#define EC_DECLARE_VEC_ROUTINES                                                                        \
  double vec_dot(const Tensor& a, const Tensor& b);                                                    \
  /* y += alpha * x */                                                                                 \
  void vec_axpy(float alpha, const Tensor& x, Tensor& y);                                              \
  /* x *= alpha */                                                                                     \
  void vec_scale(Tensor& x, float alpha);                                                              \
  /* sum |x| and sqrt(sum x^2) */                                                                      \
  double vec_norm1(const Tensor& x);                                                                   \
  double vec_norm2(const Tensor& x);                                                                   \
  /* Clamps each element to [lo[c], hi[c]] where c is its index along the last axis. */                \
  void vec_clamp_channels(Tensor& x, const std::vector<float>& lo, const std::vector<float>& hi);     \
  /* One Adam update of x in place, with moments m and v (same shape), step t >= 1. */                \
  void vec_adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, \
                     float eps, int t);                                                                \
  /* NHWC image shifted by (dy, dx) pixels with wrap-around (Deep Dream's jitter). */                  \
  Tensor vec_roll(const Tensor& x, int64_t dy, int64_t dx);
struct VecOps {
  double (*dot)(const Tensor&, const Tensor&);
  void (*axpy)(float, const Tensor&, Tensor&);
  void (*scale)(Tensor&, float);
  double (*norm1)(const Tensor&);
  double (*norm2)(const Tensor&);
  void (*clamp_channels)(Tensor&, const std::vector<float>&, const std::vector<float>&);
  void (*adam_step)(Tensor&, const Tensor&, Tensor&, Tensor&, float, float, float, float, int);
  Tensor (*roll)(const Tensor&, int64_t, int64_t);
};
// A backend's VecOps, from the routines EC_DECLARE_VEC_ROUTINES declared in its namespace.
#define EC_VEC_OPS {vec_dot, vec_axpy, vec_scale, vec_norm1, vec_norm2, vec_clamp_channels, vec_adam_step, vec_roll}

// How a Program's work runs on its queue.
struct QueueOptions {
  // CUDA: convolutions, dense layers and Gram matrices on TF32 tensor cores
  // (inputs rounded to 10 mantissa bits, fp32 sums; about 1e-3 relative).
  // The CPU computes in fp32 whatever this says.
  bool tf32 = false;
};

// An execution queue of a backend (a CUDA stream) owned by one Program, so
// Programs run concurrently on one device. The CPU has none.
class Queue {
 public:
  virtual ~Queue() = default;
};

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
  // A device copy of a tensor in this backend's memory.
  virtual Tensor clone(const Tensor& t) { return t.clone(); }
  // Waits for the work queued on the calling thread's current queue (no-op on the CPU).
  virtual void synchronize() {}
  // A new queue, or null where the backend has only its default one.
  virtual std::unique_ptr<Queue> make_queue(const QueueOptions& options = {}) { return nullptr; }
  // Makes q (null: the default queue) the calling thread's current queue, to
  // which forward/backward/alloc/copies go; returns the previous one.
  virtual Queue* use_queue(Queue* q) { return nullptr; }
  // Whether conv2d_fused is implemented (lets the Program fuse conv + relu/clip).
  virtual bool fuses_activation() const { return false; }
  // conv2d's forward with `ep` applied to each output as it is written.
  virtual void conv2d_fused(const OpCall& call, const Inputs& in, Tensor& out, const Epilogue& ep) {
    throw Error(std::string(name()) + " backend: conv2d with a fused activation is not implemented");
  }

  // max_pool's backward and the backward of the relu that produced its input,
  // in place: x (the relu's output) is overwritten with the gradient at the
  // relu's input. False, with nothing written, where the backend or the
  // pooling geometry does not allow it (see native/cpu/kernels.h).
  virtual bool max_pool_relu_backward_in_place(const OpCall& pool, Tensor& x, const Tensor& dy) { return false; }

  // The vector routines for tensors in this backend's memory. They run on
  // the calling thread's current queue; those returning a number wait for it.
  virtual const VecOps& vec() const = 0;
};

// Runs the scope's work on queue q of backend b, restoring the previous
// queue at its end.
class QueueScope {
 public:
  QueueScope(Backend& b, Queue* q) : b_(b), prev_(b.use_queue(q)) {}
  ~QueueScope() { b_.use_queue(prev_); }
  QueueScope(const QueueScope&) = delete;
  QueueScope& operator=(const QueueScope&) = delete;

 private:
  Backend& b_;
  Queue* prev_;
};

// The registry: "cpu" always; "cuda" where it was compiled in. Throws for an
// unknown name; "auto" picks cuda when a device answers, else cpu.
Backend& backend_by_name(const std::string& name);
// The backend whose memory holds t ("cpu" for host memory).
Backend& backend_of(const Tensor& t);
std::vector<std::string> compiled_backends();

// Describes the CUDA side for `doctor`: compiled or not, devices, or why none.
struct CudaInfo {
  bool compiled = false;
  int device_count = 0;
  std::string device_name, error;
  int64_t total_memory = 0, free_memory = 0;
  // Bytes our block cache holds from cudaMalloc (in use or cached): what a
  // leak would grow; cudaMemGetInfo moves in 2 MiB pages.
  int64_t pool_bytes = 0;
  int runtime_version = 0, driver_version = 0;
};
CudaInfo cuda_info();

}  // namespace ec
