// A process-wide pool of worker threads for CPU kernels.
//
// parallel_for splits [begin, end) into chunks of at least `grain` items and
// runs fn(chunk_begin, chunk_end) on the pool and the calling thread; it
// returns when all chunks are done. Nested calls from inside a worker run
// serially on that worker (no oversubscription, no deadlock). Exceptions
// thrown by fn are rethrown on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace ec::cpu {

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn);
// Threads used by parallel_for (EYECANDY_THREADS, else the hardware count).
int num_threads();
// True on the pool's own worker threads (not on a thread that called parallel_for).
bool on_pool_thread();
void set_num_threads(int n);
// The vector ISA our kernels use: the widest the running CPU offers, capped by the environment
// variable EYECANDY_ISA (avx512 | avx2 | sse4.2 | generic) when it is set, e.g. to run the AVX2
// code on an AVX-512 machine. Rank: 0 generic, 1 sse4.2, 2 avx2 (with FMA), 3 avx512.
int isa_rank();
// isa_rank() by name: "avx512", "avx2", "sse4.2" or "generic".
const char* simd_level();

}  // namespace ec::cpu
