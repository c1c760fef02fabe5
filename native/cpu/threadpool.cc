#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ec::cpu {

namespace {

thread_local bool tl_in_worker = false;
thread_local bool tl_pool_thread = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins up to kSpin while pred() is false; true when it became true. A
// network runs one op after another, each a parallel_for a few to a few
// hundred microseconds long, so a worker that just finished usually gets the
// next job within this window: waking it from a condition variable instead
// costs tens of microseconds (a futex round trip), which on small networks
// (MobileNet's 0.1-MFLOP layers) is more than the work it saves.
constexpr auto kSpin = std::chrono::microseconds(100);
template <class Pred>
bool spin_until(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return pred();
  }
}

// Workers spin briefly after each job (spin_until), then sleep on a condition
// variable; a job is a shared counter of chunks that the workers and the
// caller pull from until none are left.
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return threads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> run(run_mu_);
    stop();
    threads_ = std::max(1, n);
    quit_ = false;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
  }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::lock_guard<std::mutex> run(run_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &chunk_fn;
      total_ = chunks;
      next_ = 0;
      done_ = 0;
      error_ = nullptr;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();  // no system call unless a worker sleeps
    work();
    spin_until([&] { return finished_.load(std::memory_order_acquire) == generation_; });
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_ == total_; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
      quit_flag_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    quit_flag_.store(false);
  }

  void work() {
    for (;;) {
      int64_t i;
      const std::function<void(int64_t)>* fn;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (!fn_ || next_ >= total_) return;
        i = next_++;
        fn = fn_;
      }
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      std::lock_guard<std::mutex> lk(mu_);
      if (++done_ == total_) {
        finished_.store(generation_, std::memory_order_release);
        done_cv_.notify_all();
      }
    }
  }

  void loop() {
    tl_in_worker = true;
    tl_pool_thread = true;
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return quit_flag_.load(std::memory_order_relaxed) ||
                              published_.load(std::memory_order_acquire) != seen; });
      bool has_work;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        has_work = fn_ && next_ < total_;  // the others may have taken every chunk already
      }
      if (has_work) work();
    }
  }


  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t total_ = 0, next_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  // Lock-free mirrors for spinning: the last job published, the last job
  // whose chunks are all done, and quit.
  std::atomic<uint64_t> published_{0}, finished_{0};
  std::atomic<bool> quit_flag_{false};
  std::exception_ptr error_;
  bool quit_ = false;
  std::atomic<int> threads_{1};
};

int default_threads() {
  if (const char* env = std::getenv("EYECANDY_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1 && n <= 1024) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t n = end - begin;
  const int threads = tl_in_worker ? 1 : pool().size();
  if (threads == 1 || n <= grain) {
    fn(begin, end);
    return;
  }
  // A few chunks per thread so uneven chunks even out.
  const int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, static_cast<int64_t>(threads) * 4);
  const int64_t step = (n + chunks - 1) / chunks;
  const std::function<void(int64_t)> chunk_fn = [&](int64_t c) {
    const bool was = tl_in_worker;
    tl_in_worker = true;  // nested parallel_for inside a chunk runs serially
    const int64_t b = begin + c * step, e = std::min(end, b + step);
    try {
      if (b < e) fn(b, e);
    } catch (...) {
      tl_in_worker = was;
      throw;
    }
    tl_in_worker = was;
  };
  pool().run(chunks, chunk_fn);
}

int num_threads() { return pool().size(); }

bool on_pool_thread() { return tl_pool_thread; }

void set_num_threads(int n) { pool().resize(n); }

namespace {
const char* const kIsaNames[] = {"generic", "sse4.2", "avx2", "avx512"};

int cpu_isa_rank() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 3;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
  if (__builtin_cpu_supports("sse4.2")) return 1;
#endif
  return 0;
}
}  // namespace

int isa_rank() {
  static const int rank = [] {
    int r = cpu_isa_rank();
    if (const char* cap = std::getenv("EYECANDY_ISA")) {
      // An unknown name is refused where the addon is loaded (src/ts/native.ts); here it caps nothing.
      for (int i = 0; i < 4; ++i)
        if (std::strcmp(cap, kIsaNames[i]) == 0) r = std::min(r, i);
    }
    return r;
  }();
  return rank;
}

const char* simd_level() { return kIsaNames[isa_rank()]; }

}  // namespace ec::cpu
