// The CUDA emulator's runtime: memory, copies, streams and events, device
// queries, and the block scheduler (see cuda_runtime.h for what it is for).
//
// Scheduler: thread 0 of a block runs first, in a fiber. If it finishes
// without meeting a barrier (most element-wise kernels), the other threads
// run as plain calls, one after another. Otherwise every thread gets a fiber
// and the block runs in rounds: each runnable fiber runs until it reaches a
// barrier or returns; a __syncthreads releases when every live thread of the
// block waits at one, a warp shuffle when every live lane of the warp does.
// Exited threads do not hold a barrier up (as on sm_70 and later). A round
// that releases nothing is a deadlock (a barrier some threads never reach):
// the launch fails with cudaErrorLaunchFailure and a message on stderr.
// Blocks run in grid order, or shuffled (EC_CUDA_EMU_BLOCKS=shuffle), so a
// kernel that depends on the order of its blocks differs between the runs.
//
// Memory with teeth: every cudaMalloc is its own mapping, its data ending at
// a page end with an inaccessible guard page on each side, and the bytes
// from the page start to the data start are a red zone (a canary pattern)
// checked when the block is closed and freed. Device memory is inaccessible
// (PROT_NONE) to the host: it opens only for a kernel that is given a
// pointer to it (as an argument, or inside a struct argument) and for the
// cudaMemcpy/cudaMemset that touch it. Touching a guard page or closed
// device memory stops the process with a message naming the allocation.
// A struct argument holding a host pointer fails the launch, as a plain host
// pointer argument does. __shared__ arrays are poisoned (all bits set: NaN
// as float) at the start of every block (rewrite.py marks them).
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <unordered_map>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_runtime.h"

// Under AddressSanitizer the fiber switches are announced to it
// (__sanitizer_start/finish_switch_fiber), so it knows which stack is live:
// without that, a throw or a noreturn call on a fiber stack makes it
// unpoison the wrong range, and its reports could name the wrong stack.
#if defined(__SANITIZE_ADDRESS__)
#define EC_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EC_EMU_ASAN 1
#endif
#endif
#ifdef EC_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

struct CUstream_st {
  int id;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
};

namespace ec_emu {

uint3 g_threadIdx, g_blockIdx;
dim3 g_blockDim, g_gridDim;

namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
cudaError_t fail(cudaError_t e) {
  t_last_error = e;
  return e;
}

// ---- memory ----
constexpr size_t kTotalMemory = size_t{16} << 30;
constexpr unsigned char kCanary = 0xA5;
struct Block {
  size_t bytes;      // asked for
  char* map;         // the mapping: guard page, data pages, guard page
  size_t map_len;
  char* pages;       // first data page (the red zone runs from here to the data)
  size_t pages_len;  // data pages
  int open = 0;      // kernels and copies using it now
};
std::recursive_mutex g_mem_mu;
std::map<const char*, Block> g_device_blocks;  // data start -> block
size_t g_device_bytes = 0;
size_t g_page = 4096;

// The block holding [c, c + bytes), or nullptr; under g_mem_mu.
Block* block_of(const char* c, size_t bytes) {
  auto it = g_device_blocks.upper_bound(c);
  if (it == g_device_blocks.begin()) return nullptr;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second.bytes ? &it->second : nullptr;
}

bool is_device(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  return block_of(static_cast<const char*>(p), bytes) != nullptr;
}

// Whether the red zone of a block (from its first page to its data) is intact; the pages must be open.
bool red_zone_intact(const char* start, const Block& b) {
  for (const char* q = b.pages; q < start; ++q)
    if (static_cast<unsigned char>(*q) != kCanary) return false;
  return true;
}

[[noreturn]] void die(const char* what) {
  const ssize_t r = write(2, what, std::strlen(what));
  (void)r;
  std::abort();
}

void open_block(const char* start, Block& b) {
  if (b.open++ == 0) mprotect(b.pages, b.pages_len, PROT_READ | PROT_WRITE);
  (void)start;
}
void close_block(const char* start, Block& b) {
  if (--b.open > 0) return;
  if (!red_zone_intact(start, b)) {
    char msg[256];
    std::snprintf(msg, sizeof msg, "cuda emulator: the red zone before the device allocation at %p (%zu bytes) was written\n",
                  static_cast<const void*>(start), b.bytes);
    die(msg);
  }
  mprotect(b.pages, b.pages_len, PROT_NONE);
}

// Opens the blocks that hold [p, p+bytes) for the host (copies); closes them when it goes.
struct HostAccess {
  std::vector<const char*> opened;
  void add(const void* p, size_t bytes) {
    if (!p || bytes == 0) return;
    std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
    const char* c = static_cast<const char*>(p);
    if (Block* b = block_of(c, bytes)) {
      const char* start = std::prev(g_device_blocks.upper_bound(c))->first;
      open_block(start, *b);
      opened.push_back(start);
    }
  }
  ~HostAccess() {
    std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
    for (const char* s : opened) close_block(s, g_device_blocks.at(s));
  }
};

// SIGSEGV/SIGBUS inside a device mapping: name the allocation and stop.
struct sigaction g_old_segv, g_old_bus;
void on_fault(int sig, siginfo_t* info, void* uc) {
  const char* a = static_cast<const char*>(info->si_addr);
  if (g_mem_mu.try_lock()) {
    for (const auto& [start, b] : g_device_blocks) {
      if (a < b.map || a >= b.map + b.map_len) continue;
      char msg[320];
      const char* where = a < b.pages ? "the guard page before"
                          : a >= b.pages + b.pages_len ? "the guard page after"
                          : a < start ? "the red zone before"
                          : "closed device memory (the host side, or a kernel not given a pointer to it) in";
      std::snprintf(msg, sizeof msg,
                    "cuda emulator: access to %p, %s the device allocation at %p (%zu bytes; offset %td)\n",
                    static_cast<const void*>(a), where, static_cast<const void*>(start), b.bytes, a - start);
      die(msg);
    }
    g_mem_mu.unlock();
  }
  // Not ours: the previous handler (or the default action).
  struct sigaction& old = sig == SIGSEGV ? g_old_segv : g_old_bus;
  if (old.sa_flags & SA_SIGINFO) {
    if (old.sa_sigaction) return old.sa_sigaction(sig, info, uc);
  } else if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler) {
    return old.sa_handler(sig);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}
void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
  });
}

// __shared__ arrays seen, with the block (g_stats.blocks) that last poisoned each.
std::unordered_map<const void*, uint64_t> g_shared;

// ---- scheduler ----
enum class State { Runnable, AtBlock, AtWarp, Done };
struct Fiber {
  ucontext_t ctx;
  State state = State::Runnable;
  uint3 tid;
};
struct DivergentBarrier {};

struct BlockRun {
  const std::function<void()>* body = nullptr;
  int n = 0;
  std::vector<Fiber> fibers;
  int current = 0;
  ucontext_t main;
  const void* main_bottom = nullptr;  // the scheduler's stack, for the sanitizer's fiber switches
  size_t main_size = 0;
  bool fiber_mode = true, met_barrier = false;
  uint64_t cells[1024];
};

std::recursive_mutex g_launch_mu;  // held from a launch's argument checks to its end
BlockRun* g_run = nullptr;
constexpr size_t kStack = 128 * 1024;
std::vector<std::unique_ptr<char[]>> g_stacks;
Stats g_stats{};

uint3 thread_of(int i) {
  const unsigned bx = g_blockDim.x, by = g_blockDim.y;
  return {i % bx, (i / bx) % by, i / (bx * by)};
}
int linear_thread() {
  return static_cast<int>(g_threadIdx.x + g_blockDim.x * (g_threadIdx.y + g_blockDim.y * g_threadIdx.z));
}

// The sanitizer's side of a fiber switch (nothing without ASan): `to_fiber`
// before swapcontext, `arrived` after it returns on the new stack.
struct SwitchNote {
  void* fake = nullptr;
#ifdef EC_EMU_ASAN
  void leave_for(const void* bottom, size_t size) { __sanitizer_start_switch_fiber(&fake, bottom, size); }
  void arrived(const void** from_bottom = nullptr, size_t* from_size = nullptr) {
    __sanitizer_finish_switch_fiber(fake, from_bottom, from_size);
  }
  // The fiber is done: its stack will not be switched back to.
  static void leave_for_good(const void* bottom, size_t size) { __sanitizer_start_switch_fiber(nullptr, bottom, size); }
#else
  void leave_for(const void*, size_t) {}
  void arrived(const void** = nullptr, size_t* = nullptr) {}
  static void leave_for_good(const void*, size_t) {}
#endif
};

void fiber_entry() {
  BlockRun* r = g_run;
  SwitchNote{}.arrived(&r->main_bottom, &r->main_size);
  (*r->body)();
  r->fibers[r->current].state = State::Done;
  SwitchNote::leave_for_good(r->main_bottom, r->main_size);
  // returning continues at uc_link (the scheduler)
}

void start_fiber(BlockRun& r, int i) {
  while (static_cast<int>(g_stacks.size()) <= i) g_stacks.emplace_back(new char[kStack]);
  Fiber& f = r.fibers[i];
  f.state = State::Runnable;
  f.tid = thread_of(i);
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = g_stacks[i].get();
  f.ctx.uc_stack.ss_size = kStack;
  f.ctx.uc_link = &r.main;
  makecontext(&f.ctx, fiber_entry, 0);
}

void resume(BlockRun& r, int i) {
  r.current = i;
  g_threadIdx = r.fibers[i].tid;
  ++g_stats.switches;
  SwitchNote note;
  note.leave_for(g_stacks[i].get(), kStack);
  swapcontext(&r.main, &r.fibers[i].ctx);
  note.arrived();
}

void wait_here(State why) {
  BlockRun* r = g_run;
  if (!r->fiber_mode) throw DivergentBarrier{};
  r->met_barrier = true;
  Fiber& f = r->fibers[r->current];
  f.state = why;
  SwitchNote note;
  note.leave_for(r->main_bottom, r->main_size);
  swapcontext(&f.ctx, &r->main);
  note.arrived(&r->main_bottom, &r->main_size);
}

// EC_CUDA_EMU_ORDER=reverse runs a block's threads last to first: a missing
// barrier shows in one order or the other (a thread reads a cell that another
// writes, and either runs first).
bool reverse_order() {
  static const bool rev = [] {
    const char* v = std::getenv("EC_CUDA_EMU_ORDER");
    return v && std::string(v) == "reverse";
  }();
  return rev;
}

// Runs one block; returns an empty string or what went wrong.
std::string run_block(BlockRun& r) {
  const bool rev = reverse_order();
  auto at = [&](int k) { return rev ? r.n - 1 - k : k; };  // the k-th thread to run
  r.fibers.resize(r.n);
  r.fiber_mode = true;
  r.met_barrier = false;
  const int first = at(0);
  start_fiber(r, first);
  resume(r, first);
  if (r.fibers[first].state == State::Done && !r.met_barrier) {
    r.fiber_mode = false;
    for (int k = 1; k < r.n; ++k) {
      const int i = at(k);
      g_threadIdx = thread_of(i);
      try {
        (*r.body)();
      } catch (const DivergentBarrier&) {
        return "thread " + std::to_string(i) + " reached a barrier that thread " + std::to_string(first) +
               " returned without meeting";
      }
    }
    return "";
  }
  ++g_stats.fiber_blocks;
  for (int k = 1; k < r.n; ++k) start_fiber(r, at(k));
  for (;;) {
    for (int k = 0; k < r.n; ++k)
      if (r.fibers[at(k)].state == State::Runnable) resume(r, at(k));
    int live = 0, at_block = 0;
    for (const Fiber& f : r.fibers) live += f.state != State::Done, at_block += f.state == State::AtBlock;
    if (live == 0) return "";
    bool released = false;
    if (at_block == live) {
      for (Fiber& f : r.fibers) f.state = State::Runnable;
      released = true;
    } else {
      for (int w = 0; w * 32 < r.n; ++w) {
        const int lo = w * 32, hi = std::min(r.n, lo + 32);
        int live_w = 0, at_w = 0;
        for (int i = lo; i < hi; ++i) live_w += r.fibers[i].state != State::Done, at_w += r.fibers[i].state == State::AtWarp;
        if (at_w > 0 && at_w == live_w) {
          for (int i = lo; i < hi; ++i)
            if (r.fibers[i].state == State::AtWarp) r.fibers[i].state = State::Runnable;
          released = true;
        }
      }
    }
    if (!released) {
      // Fibers still waiting are abandoned (their stacks are reused later).
      return std::to_string(live - at_block) + " of " + std::to_string(live) +
             " live threads wait at a warp shuffle while the others wait at __syncthreads, or a barrier is not "
             "reached by every thread";
    }
  }
}

}  // namespace

void syncthreads() { wait_here(State::AtBlock); }

void warp_exchange(const void* value, size_t bytes, int src_lane, void* out) {
  BlockRun* r = g_run;
  if (!r->fiber_mode) throw DivergentBarrier{};
  const int me = linear_thread(), src = (me & ~31) + src_lane;
  std::memcpy(&r->cells[me], value, bytes);
  wait_here(State::AtWarp);
  if (src >= 0 && src < r->n && r->fibers[src].state != State::Done)
    std::memcpy(out, &r->cells[src], bytes);
  else
    std::memcpy(out, value, bytes);
  wait_here(State::AtWarp);  // every lane has read before any cell is overwritten
}

// The blocks the current launch opened (under g_launch_mu: launches are serialized).
std::vector<const char*> g_launch_open;

void open_for_launch(const char* c) {
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  auto it = g_device_blocks.upper_bound(c);
  if (it == g_device_blocks.begin()) return;
  --it;
  if (c < it->first || c > it->first + it->second.bytes) return;  // one past the end is still that block's
  if (std::find(g_launch_open.begin(), g_launch_open.end(), it->first) != g_launch_open.end()) return;
  open_block(it->first, it->second);
  g_launch_open.push_back(it->first);
}

void close_launch() {
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  for (const char* s : g_launch_open) close_block(s, g_device_blocks.at(s));
  g_launch_open.clear();
}

bool check_pointer_arg(const void* p) {
  if (!p || is_device(p, 1)) {
    if (p) open_for_launch(static_cast<const char*>(p));
    return true;
  }
  std::fprintf(stderr, "cuda emulator: a kernel argument %p is not device memory\n", p);
  fail(cudaErrorInvalidDevicePointer);
  return false;
}

// Whether `a` is a mapped page of this process (mincore fails with ENOMEM otherwise).
bool mapped(uintptr_t a) {
  unsigned char v;
  const uintptr_t page = a & ~(uintptr_t{g_page} - 1);
  return mincore(reinterpret_cast<void*>(page), g_page, &v) == 0;
}

// Whether `a` lies in memory the sanitizer keeps for itself. ASan's shadow, and the gap between
// its two halves, are mapped too: under it most words of two small ints (0x700000001) look
// mapped, yet no pointer of the program points there.
bool sanitizer_memory(uintptr_t a) {
#ifdef EC_EMU_ASAN
  static const std::pair<uintptr_t, uintptr_t> shadow = [] {
    size_t scale = 0, offset = 0;
    __asan_get_shadow_mapping(&scale, &offset);
    return std::pair<uintptr_t, uintptr_t>{offset, offset + ((uintptr_t{1} << 47) >> scale)};
  }();
  return a >= shadow.first && a < shadow.second;
#else
  (void)a;
  return false;
#endif
}

bool check_struct_arg(const void* arg, size_t bytes) {
  // Every aligned 8-byte word: a device pointer opens its block; a word that
  // points into mapped host memory is a host pointer the kernel would fault on.
  for (size_t o = 0; o + sizeof(uintptr_t) <= bytes; o += sizeof(uintptr_t)) {
    uintptr_t w;
    std::memcpy(&w, static_cast<const char*>(arg) + o, sizeof w);
    if (w < 65536 || w >= (uintptr_t{1} << 47)) continue;  // not a user-space address
    const char* c = reinterpret_cast<const char*>(w);
    bool dev;
    {
      std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
      auto it = g_device_blocks.upper_bound(c);
      dev = it != g_device_blocks.begin() && c >= std::prev(it)->second.map &&
            c < std::prev(it)->second.map + std::prev(it)->second.map_len;
    }
    if (dev) {
      open_for_launch(c);
      continue;
    }
    if (!sanitizer_memory(w) && mapped(w)) {
      std::fprintf(stderr, "cuda emulator: a kernel's struct argument holds a host pointer %p (at byte %zu of %zu)\n",
                   static_cast<const void*>(c), o, bytes);
      fail(cudaErrorInvalidDevicePointer);
      return false;
    }
  }
  return true;
}

void shared_fresh(void* p, size_t bytes) {
  // The first thread of a block to reach the declaration poisons it, before any thread uses it.
  uint64_t& seen = g_shared[p];
  if (seen == g_stats.blocks) return;
  seen = g_stats.blocks;
  std::memset(p, 0xFF, bytes);
}

bool shuffle_blocks() {
  static const bool on = [] {
    const char* v = std::getenv("EC_CUDA_EMU_BLOCKS");
    return v && std::string(v) == "shuffle";
  }();
  return on;
}

void run_grid(dim3 grid, dim3 block, size_t smem, cudaStream_t, const std::function<void()>& body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535 || smem > 48 * 1024) {
    std::fprintf(stderr, "cuda emulator: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u) smem %zu\n",
                 grid.x, grid.y, grid.z, block.x, block.y, block.z, smem);
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  std::lock_guard<std::recursive_mutex> lk(g_launch_mu);
  struct Closer {
    ~Closer() { close_launch(); }
  } closer;
  BlockRun run;
  run.body = &body;
  run.n = static_cast<int>(threads);
  BlockRun* outer = g_run;
  g_run = &run;
  g_gridDim = grid;
  g_blockDim = block;
  ++g_stats.launches;
  const uint64_t nblocks = uint64_t{grid.x} * grid.y * grid.z;
  std::vector<uint64_t> order;
  if (shuffle_blocks() && nblocks > 1 && nblocks <= (uint64_t{1} << 24)) {
    order.resize(nblocks);
    for (uint64_t i = 0; i < nblocks; ++i) order[i] = i;
    static std::mt19937_64 rng(0xec5eedu);
    std::shuffle(order.begin(), order.end(), rng);
  }
  for (uint64_t k = 0; k < nblocks; ++k) {
        const uint64_t i = order.empty() ? k : order[k];
        const unsigned x = static_cast<unsigned>(i % grid.x), y = static_cast<unsigned>((i / grid.x) % grid.y),
                       z = static_cast<unsigned>(i / (uint64_t{grid.x} * grid.y));
        g_blockIdx = {x, y, z};
        ++g_stats.blocks;
        const std::string why = run_block(run);
        if (!why.empty()) {
          std::fprintf(stderr, "cuda emulator: block (%u,%u,%u) of grid (%u,%u,%u), block (%u,%u,%u): %s\n", x, y, z,
                       grid.x, grid.y, grid.z, block.x, block.y, block.z, why.c_str());
          fail(cudaErrorLaunchFailure);
          g_run = outer;
          return;
        }
      }
  g_run = outer;
}

LaunchGuard::LaunchGuard() { g_launch_mu.lock(); }
LaunchGuard::~LaunchGuard() {
  close_launch();
  g_launch_mu.unlock();
}

Stats stats() {
  std::lock_guard<std::recursive_mutex> lk(g_launch_mu);
  return g_stats;
}

}  // namespace ec_emu

using namespace ec_emu;

cudaError_t cudaGetLastError() {
  const cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* dev) {
  *dev = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int dev) {
  if (dev != 0) return fail(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CUDA emulator on the CPU (eyecandy tests)");
  prop->totalGlobalMem = kTotalMemory;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->multiProcessorCount = 4;
  prop->maxThreadsPerBlock = 1024;
  prop->major = 9;
  prop->minor = 0;
  prop->warpSize = 32;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int dev) {
  if (dev != 0) return fail(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
    case cudaDevAttrMultiProcessorCount: *value = 4; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    default: return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  *total_bytes = kTotalMemory;
  *free_bytes = kTotalMemory - std::min(g_device_bytes, kTotalMemory);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** p, size_t bytes) {
  install_fault_handler();
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  if (bytes == 0) bytes = 1;
  if (g_device_bytes + bytes > kTotalMemory) return fail(cudaErrorMemoryAllocation);
  // Guard page, data pages, guard page; the data (16-byte aligned) ends as near the page end as
  // alignment allows, so reading past it faults; the bytes before it are the red zone.
  const size_t data = (bytes + 15) / 16 * 16;
  const size_t pages_len = (data + g_page - 1) / g_page * g_page;
  const size_t map_len = pages_len + 2 * g_page;
  void* m = mmap(nullptr, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
  Block b{bytes, static_cast<char*>(m), map_len, static_cast<char*>(m) + g_page, pages_len};
  char* start = b.pages + pages_len - data;
  mprotect(b.pages, pages_len, PROT_READ | PROT_WRITE);
  std::memset(b.pages, kCanary, static_cast<size_t>(start - b.pages));
  std::memset(start, 0xFF, bytes);  // fresh device memory holds garbage (NaN as float)
  mprotect(b.pages, pages_len, PROT_NONE);
  g_device_blocks.emplace(start, b);
  g_device_bytes += bytes;
  *p = start;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lk(g_mem_mu);
  auto it = g_device_blocks.find(static_cast<const char*>(p));
  if (it == g_device_blocks.end()) return fail(cudaErrorInvalidDevicePointer);
  Block& b = it->second;
  open_block(it->first, b);
  close_block(it->first, b);  // checks the red zone
  g_device_bytes -= b.bytes;
  munmap(b.map, b.map_len);
  g_device_blocks.erase(it);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) { return cudaMallocHost(p, bytes); }
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_dev = is_device(dst, bytes), src_dev = is_device(src, bytes);
  const bool ok = kind == cudaMemcpyDefault || (kind == cudaMemcpyHostToDevice && dst_dev && !src_dev) ||
                  (kind == cudaMemcpyDeviceToHost && !dst_dev && src_dev) ||
                  (kind == cudaMemcpyDeviceToDevice && dst_dev && src_dev) ||
                  (kind == cudaMemcpyHostToHost && !dst_dev && !src_dev);
  if (!ok) {
    std::fprintf(stderr, "cuda emulator: cudaMemcpy kind %d from %s %p to %s %p (%zu bytes) does not match the memory\n",
                 static_cast<int>(kind), src_dev ? "device" : "host", src, dst_dev ? "device" : "host", dst, bytes);
    return fail(cudaErrorInvalidValue);
  }
  HostAccess access;
  access.add(dst, bytes);
  access.add(src, bytes);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  if (bytes && !is_device(p, bytes)) return fail(cudaErrorInvalidValue);
  HostAccess access;
  access.add(p, bytes);
  std::memset(p, v, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) { return cudaMemset(p, v, bytes); }

cudaError_t cudaStreamCreate(cudaStream_t* s) {
  static int next = 1;
  *s = new CUstream_st{next++};
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st{};
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!a->recorded || !b->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
