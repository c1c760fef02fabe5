// Tensor: a shape plus a reference-counted float32 buffer.
//
// Layout: row-major over `shape`; image tensors are NHWC at every API edge.
// Ownership: the Storage is shared; copying a Tensor copies the handle, not the
// data (use clone() for a deep copy). A Tensor with no storage is "empty".
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ec {

using Shape = std::vector<int64_t>;

// Every failure the core reports is an ec::Error; its text starts with the op
// or component ("conv2d: ...") and the binding turns it into a JS Error.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[1,224,224,3]"
// The products of the dims before and after `axis` (axis itself excluded).
void split_at_axis(const Shape& s, int axis, int64_t& outer, int64_t& inner);

enum class Device { Host, Cuda };

struct Storage;

// Live native memory of one device: what the allocators handed out through
// tensors and has not been freed yet (a Program's pool and retained
// activations included; kernels' private scratch is not).
struct MemoryCounters {
  int64_t bytes = 0;    // bytes live now
  int64_t tensors = 0;  // storages live now
  int64_t peak = 0;     // most bytes live at once since the last reset_memory_peak
};
// Counts `st` (its `bytes`) as live on its device until it is destroyed.
void memory_track(Storage& st, int64_t bytes);
MemoryCounters memory_counters(Device d);
// Starts a new peak at the bytes live now.
void memory_reset_peak(Device d);

// A block of float32 memory on one device. The deleter returns it to whoever
// allocated it (plain heap, a Program's buffer pool, or a CUDA allocator).
struct Storage {
  float* data = nullptr;
  int64_t numel = 0;
  Device device = Device::Host;
  std::function<void(float*)> release;
  // Bytes counted in the device's MemoryCounters (0: not counted).
  int64_t tracked_bytes = 0;
  // How many JS tensor handles hold this storage (the binding reports it to
  // the JS engine's heap accounting while there is one).
  std::atomic<int> js_holders{0};
  ~Storage();
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-filled host memory.
  explicit Tensor(Shape shape);
  // Allocates host memory left as it is (for a caller that writes every element).
  static Tensor uninitialized(Shape shape);
  static Tensor zeros(Shape shape) { return Tensor(std::move(shape)); }
  static Tensor from(Shape shape, const std::vector<float>& values);
  // Wraps memory owned by someone else (kept alive by `storage`).
  Tensor(Shape shape, std::shared_ptr<Storage> storage);

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  bool empty() const { return !storage_; }
  float* data() { return storage_ ? storage_->data : nullptr; }
  const float* data() const { return storage_ ? storage_->data : nullptr; }
  Device device() const { return storage_ ? storage_->device : Device::Host; }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  Tensor clone() const;
  // Same storage, new shape of equal element count.
  Tensor reshaped(Shape shape) const;
  void fill(float v);

 private:
  Shape shape_;
  std::shared_ptr<Storage> storage_;
};

}  // namespace ec
