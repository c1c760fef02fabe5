#include "tensor.h"

#include <algorithm>
#include <cstring>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

namespace ec {

void split_at_axis(const Shape& s, int axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int d = 0; d < static_cast<int>(s.size()); ++d) {
    if (d < axis) outer *= s[d];
    if (d > axis) inner *= s[d];
  }
}

int64_t shape_numel(const Shape& s) {
  // Checked: a wrapped product would let a tiny buffer pass for a huge shape.
  const int64_t limit = int64_t(1) << 48;
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) return -1;  // callers report negative dimensions themselves
    if (d != 0 && n > limit / d) throw Error("tensor: shape " + shape_str(s) + " has more than 2^48 elements");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {

struct AtomicCounters {
  std::atomic<int64_t> bytes{0}, tensors{0}, peak{0};
};
AtomicCounters counters[2];  // by Device

AtomicCounters& counters_of(Device d) { return counters[d == Device::Cuda ? 1 : 0]; }

}  // namespace

void memory_track(Storage& st, int64_t bytes) {
  if (st.tracked_bytes || bytes <= 0) return;
  st.tracked_bytes = bytes;
  AtomicCounters& c = counters_of(st.device);
  const int64_t now = c.bytes.fetch_add(bytes) + bytes;
  c.tensors.fetch_add(1);
  int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

MemoryCounters memory_counters(Device d) {
  const AtomicCounters& c = counters_of(d);
  MemoryCounters m;
  m.bytes = c.bytes.load();
  m.tensors = c.tensors.load();
  m.peak = c.peak.load();
  return m;
}

void memory_reset_peak(Device d) {
  AtomicCounters& c = counters_of(d);
  c.peak.store(c.bytes.load());
}

Storage::~Storage() {
  if (tracked_bytes) {
    AtomicCounters& c = counters_of(device);
    c.bytes.fetch_sub(tracked_bytes);
    c.tensors.fetch_sub(1);
  }
  if (release && data) release(data);
}

namespace {

// Host buffers of at least this many bytes are mapped from the OS directly and
// unmapped when freed, so the memory goes back at once: malloc would keep freed
// blocks below its (adaptive, up to 32 MB) mmap threshold in its heap, where a
// long style run piles them up. What a Program reuses across calls stays in its
// buffer pool and is never unmapped between calls.
constexpr size_t kMapBytes = size_t(1) << 20;
// Mappings this large ask for transparent huge pages: one fault per 2 MB
// instead of per 4 KB page, and fewer TLB misses in the kernels.
constexpr size_t kHugeBytes = size_t(4) << 20;

// Huge pages need 2 MB-aligned ranges: a mapping that starts mid-way through
// one takes up to 2 MB of 4 KB faults at each end (about 1,700 faults per
// call in a VGG backward at batch 4, whose large gradient buffers are made
// afresh each call). So huge mappings start on a 2 MB boundary, and those of
// at least kRoundBytes also end on one (at most 1/16 more address space; the
// pages past the buffer are touched only by a huge-page fault).
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kRoundBytes = size_t(32) << 20;

// The length map_host maps for `bytes` (page-rounded), which unmap must be given.
size_t mapped_length(size_t bytes) {
  const size_t page = 4096;
  size_t n = (bytes + page - 1) / page * page;
  if (n >= kRoundBytes) n = (n + kHugePage - 1) / kHugePage * kHugePage;
  return n;
}

#if defined(__unix__) || defined(__APPLE__)
float* map_host(size_t bytes) {
  const size_t n = mapped_length(bytes);
  const size_t slack = n >= kHugeBytes ? kHugePage : 0;
  void* p = mmap(nullptr, n + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char* base = static_cast<char*>(p);
  if (slack) {
    // Keep [start, start + n) with start 2 MB-aligned; give back the rest.
    char* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~(kHugePage - 1));
    if (start > base) munmap(base, start - base);
    if (base + n + slack > start + n) munmap(start + n, base + n + slack - (start + n));
    base = start;
  }
#ifdef MADV_HUGEPAGE
  if (n >= kHugeBytes) madvise(base, n, MADV_HUGEPAGE);
#endif
  return reinterpret_cast<float*>(base);
}
constexpr bool kCanMap = true;
#else
float* map_host(size_t) { return nullptr; }
constexpr bool kCanMap = false;
#endif

}  // namespace

static std::shared_ptr<Storage> host_storage(int64_t numel, bool zero) {
  auto st = std::make_shared<Storage>();
  st->numel = numel;
  // 64-byte alignment so SIMD kernels may use aligned loads on whole buffers.
  size_t bytes = ((std::max<int64_t>(numel, 1) * sizeof(float) + 63) / 64) * 64;
  if (kCanMap && bytes >= kMapBytes) {
    const size_t mapped = mapped_length(bytes);
    st->data = map_host(bytes);
    if (!st->data) throw Error("tensor: out of host memory mapping " + std::to_string(mapped) + " bytes");
    // Fresh mappings read as zeros: no memset (and no page touched before use).
#if defined(__unix__) || defined(__APPLE__)
    st->release = [mapped](float* p) { munmap(p, mapped); };
#endif
    memory_track(*st, static_cast<int64_t>(bytes));
    return st;
  }
  st->data = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!st->data) throw Error("tensor: out of host memory allocating " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(st->data, 0, bytes);
  st->release = [](float* p) { std::free(p); };
  memory_track(*st, static_cast<int64_t>(bytes));
  return st;
}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error("tensor: negative dimension in shape " + shape_str(shape_));
  storage_ = host_storage(numel(), true);
}

Tensor Tensor::uninitialized(Shape shape) {
  for (int64_t d : shape)
    if (d < 0) throw Error("tensor: negative dimension in shape " + shape_str(shape));
  const int64_t n = shape_numel(shape);
  return Tensor(std::move(shape), host_storage(n, false));
}

Tensor::Tensor(Shape shape, std::shared_ptr<Storage> storage)
    : shape_(std::move(shape)), storage_(std::move(storage)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error("tensor: negative dimension in shape " + shape_str(shape_));
  if (storage_ && storage_->numel < numel())
    throw Error("tensor: storage of " + std::to_string(storage_->numel) +
                " elements is too small for shape " + shape_str(shape_));
}

Tensor Tensor::from(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error("tensor: " + std::to_string(values.size()) + " values given for shape " +
                shape_str(t.shape()) + " which holds " + std::to_string(t.numel()));
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = uninitialized(shape_);
  if (numel()) std::memcpy(t.data(), data(), numel() * sizeof(float));
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw Error("reshape: cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  return Tensor(std::move(shape), storage_);
}

void Tensor::fill(float v) { std::fill(data(), data() + numel(), v); }

}  // namespace ec
