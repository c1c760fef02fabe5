// Device memory: a caching allocator over cudaMalloc, and host<->device copies
// through pinned staging buffers.
//
// Free blocks are cached by the stream they were allocated on (0: the legacy
// default stream; Program streams by an id never reused, so a block released
// after its stream is gone cannot land in a newer stream's list) and handed out again, so a Program that runs the
// same shapes repeatedly stops calling cudaMalloc after its first pass. A
// stream reuses its own blocks (stream order puts the new user after every
// earlier one) and the legacy stream's; the legacy stream may take any
// block. Both are safe because Program streams are blocking streams: they
// wait for earlier legacy-stream work and it waits for theirs. A block can
// only be used on another stream than its own by a Program call, and every
// Program call waits for its stream before it returns.
#include <map>
#include <mutex>
#include <set>

#include "launch.cuh"

namespace ec::cuda {

namespace {

using FreeList = std::multimap<size_t, void*>;
struct Cache {
  std::mutex mu;
  std::map<uint64_t, FreeList> free;
  // Ids of live Program streams. A block released after its stream was
  // destroyed (a Program's result outliving the Program) goes to the shared
  // list: the stream finished its work before it was destroyed.
  std::set<uint64_t> live;
  uint64_t next_id = 1;
  int64_t malloc_bytes = 0;  // held from cudaMalloc
};
Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: blocks may outlive static teardown
  return *c;
}

thread_local cudaStream_t t_stream = nullptr;
thread_local uint64_t t_stream_id = 0;
thread_local bool t_tf32 = false;

size_t round_bytes(int64_t numel) {
  const size_t b = static_cast<size_t>(numel > 0 ? numel : 1) * sizeof(float);
#ifdef EC_CUDA_EMULATOR
  return b;  // exact, so the emulator's red zones sit right after a freshly allocated tensor
#else
  return (b + 511) / 512 * 512;
#endif
}

// A cached block of at least `bytes` (and at most twice that) from list l;
// `bytes` becomes the block's own size, which it keeps for life.
void* take_from(FreeList& l, size_t& bytes) {
  auto it = l.lower_bound(bytes);
  if (it == l.end() || it->first > bytes * 2) return nullptr;
  void* p = it->second;
  bytes = it->first;
  l.erase(it);
  return p;
}

void* take_cached(uint64_t s, size_t& bytes) {
  std::lock_guard<std::mutex> lk(cache().mu);
  auto& lists = cache().free;
  if (void* p = take_from(lists[s], bytes)) return p;
  if (s != 0) return take_from(lists[0], bytes);
  for (auto& [other, l] : lists)
    if (void* p = take_from(l, bytes)) return p;
  return nullptr;
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  EC_GRID_STRIDE(i, n) p[i] = v;
}

// Two pinned buffers per thread: chunk i is staged in buffer i % 2 while the
// copy of chunk i - 1 is in flight. Without pinned memory (cudaHostAlloc
// refused, e.g. a locked-memory limit) copies go straight from pageable memory.
constexpr size_t kStageBytes = size_t{4} << 20;
struct Staging {
  float* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  bool tried = false, ok = false;
  ~Staging() {
    for (int i = 0; i < 2; ++i) {
      if (buf[i]) cudaFreeHost(buf[i]);
      if (done[i]) cudaEventDestroy(done[i]);
    }
  }
  bool ready() {
    if (!tried) {
      tried = true;
      ok = true;
      for (int i = 0; i < 2 && ok; ++i)
        ok = cudaHostAlloc(reinterpret_cast<void**>(&buf[i]), kStageBytes, cudaHostAllocDefault) == cudaSuccess &&
             cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming) == cudaSuccess;
      cudaGetLastError();
    }
    return ok;
  }
};
thread_local Staging t_staging;

void upload(float* dst, const float* src, size_t bytes) {
  const cudaStream_t s = stream();
  if (!t_staging.ready()) {
    EC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    EC_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
  const char* from = reinterpret_cast<const char*>(src);
  char* to = reinterpret_cast<char*>(dst);
  for (size_t off = 0, i = 0; off < bytes; off += kStageBytes, ++i) {
    const int b = static_cast<int>(i & 1);
    const size_t n = std::min(kStageBytes, bytes - off);
    if (i >= 2) EC_CUDA_CHECK(cudaEventSynchronize(t_staging.done[b]));  // buffer b is free again
    std::memcpy(t_staging.buf[b], from + off, n);
    EC_CUDA_CHECK(cudaMemcpyAsync(to + off, t_staging.buf[b], n, cudaMemcpyHostToDevice, s));
    EC_CUDA_CHECK(cudaEventRecord(t_staging.done[b], s));
  }
  EC_CUDA_CHECK(cudaStreamSynchronize(s));
}

void download(float* dst, const float* src, size_t bytes) {
  const cudaStream_t s = stream();
  if (!t_staging.ready()) {
    EC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    EC_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
  const char* from = reinterpret_cast<const char*>(src);
  char* to = reinterpret_cast<char*>(dst);
  // Queue chunk i + 1 before copying chunk i out of its buffer.
  const size_t chunks = (bytes + kStageBytes - 1) / kStageBytes;
  auto queue = [&](size_t i) {
    const size_t off = i * kStageBytes, n = std::min(kStageBytes, bytes - off);
    EC_CUDA_CHECK(cudaMemcpyAsync(t_staging.buf[i & 1], from + off, n, cudaMemcpyDeviceToHost, s));
    EC_CUDA_CHECK(cudaEventRecord(t_staging.done[i & 1], s));
  };
  if (chunks) queue(0);
  for (size_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) queue(i + 1);
    EC_CUDA_CHECK(cudaEventSynchronize(t_staging.done[i & 1]));
    const size_t off = i * kStageBytes, n = std::min(kStageBytes, bytes - off);
    std::memcpy(to + off, t_staging.buf[i & 1], n);
  }
}

}  // namespace

cudaStream_t stream() { return t_stream; }
bool tf32() { return t_tf32; }
void set_tf32(bool on) { t_tf32 = on; }
void set_stream(cudaStream_t s, uint64_t id) {
  t_stream = s;
  t_stream_id = id;
}

uint64_t register_stream() {
  std::lock_guard<std::mutex> lk(cache().mu);
  const uint64_t id = cache().next_id++;
  cache().live.insert(id);
  return id;
}

void release_stream_blocks(uint64_t id) {
  if (id == 0) return;
  std::lock_guard<std::mutex> lk(cache().mu);
  cache().live.erase(id);
  auto it = cache().free.find(id);
  if (it == cache().free.end()) return;
  FreeList& shared = cache().free[0];
  shared.insert(it->second.begin(), it->second.end());
  cache().free.erase(it);
}

int64_t pool_bytes() {
  std::lock_guard<std::mutex> lk(cache().mu);
  return cache().malloc_bytes;
}

void fill_cuda(float* p, int64_t n, float v) {
  if (n <= 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(p, n, v);
  EC_CUDA_LAUNCH_CHECK();
}

Tensor device_alloc(const Shape& shape) {
  const int64_t numel = shape_numel(shape);
  size_t bytes = round_bytes(numel);  // the block's size once one is found
  const uint64_t s = t_stream_id;
  void* p = take_cached(s, bytes);
  if (!p) {
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      // Give every cached block back to the driver (once all queued work is
      // done with them) and try once more.
      cudaGetLastError();
      EC_CUDA_CHECK(cudaDeviceSynchronize());
      std::lock_guard<std::mutex> lk(cache().mu);
      for (auto& [st, l] : cache().free)
        for (auto& [sz, blk] : l) cudaFree(blk), cache().malloc_bytes -= static_cast<int64_t>(sz);
      cache().free.clear();
      err = cudaMalloc(&p, bytes);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      throw Error("cuda: out of device memory: " + std::to_string(bytes >> 20) + " MiB asked for tensor " +
                  shape_str(shape) + ", " + std::to_string(free_b >> 20) + " MiB free of " +
                  std::to_string(total_b >> 20) + " MiB");
    }
    EC_CUDA_CHECK(err);
    std::lock_guard<std::mutex> lk(cache().mu);
    cache().malloc_bytes += static_cast<int64_t>(bytes);
  }
  auto st = std::make_shared<Storage>();
  st->data = static_cast<float*>(p);
  st->numel = static_cast<int64_t>(bytes / sizeof(float));
  st->device = Device::Cuda;
  memory_track(*st, static_cast<int64_t>(bytes));
  st->release = [bytes, s](float* q) {
    std::lock_guard<std::mutex> lk(cache().mu);
    cache().free[s && cache().live.count(s) ? s : 0].emplace(bytes, q);
  };
  return Tensor(shape, st);
}

Tensor copy_to_host(const Tensor& t) {
  if (t.device() == Device::Host) return t;
  Tensor h(t.shape());
  download(h.data(), t.data(), t.numel() * sizeof(float));
  return h;
}

Tensor copy_from_host(const Tensor& t) {
  if (t.device() == Device::Cuda) return t;
  Tensor d = device_alloc(t.shape());
  upload(d.data(), t.data(), t.numel() * sizeof(float));
  return d;
}

Tensor copy_on_device(const Tensor& t) {
  if (t.device() != Device::Cuda) throw Error("cuda: copy_on_device needs a device tensor");
  Tensor d = device_alloc(t.shape());
  copy_device(d.data(), t.data(), t.numel());
  return d;
}

}  // namespace ec::cuda
