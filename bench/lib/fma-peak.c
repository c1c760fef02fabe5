// fp32 FMA peak of this machine: every thread runs independent chains of
// vector fused multiply-adds (widest ISA the CPU has, picked at run time) for
// a fixed time; prints total GFLOP/s (2 flops per lane per FMA) as JSON.
// Usage: fma-peak [threads] [seconds]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHAINS 12
#define BODY(VW)                                                                   \
  typedef float v __attribute__((vector_size(VW * 4)));                            \
  v acc[CHAINS], m, a;                                                             \
  for (int i = 0; i < VW; ++i) m[i] = 0.999999f, a[i] = 1e-7f;                     \
  for (int c = 0; c < CHAINS; ++c)                                                 \
    for (int i = 0; i < VW; ++i) acc[c][i] = (float)(c + i);                       \
  for (long it = 0; it < iters; ++it)                                              \
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; ++r)                          \
      _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; ++c) acc[c] = acc[c] * m + a; \
  float s = 0;                                                                     \
  for (int c = 0; c < CHAINS; ++c)                                                 \
    for (int i = 0; i < VW; ++i) s += acc[c][i];                                   \
  *sink = s;                                                                       \
  return (double)iters * 16 * CHAINS * VW * 2;

__attribute__((target("avx512f,fma"))) static double run512(long iters, float* sink) { BODY(16) }
__attribute__((target("avx2,fma"))) static double run256(long iters, float* sink) { BODY(8) }
static double run128(long iters, float* sink) { BODY(4) }

static double (*run)(long, float*);
static double seconds = 0.5;

typedef struct {
  double flops, secs;
  float sink;
} Result;

static void* worker(void* p) {
  Result* r = (Result*)p;
  long iters = 1000;
  double t0 = now(), f = 0;
  while (now() - t0 < seconds) {
    f += run(iters, &r->sink);
    if (iters < 1000000) iters *= 2;
  }
  r->flops = f, r->secs = now() - t0;
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2) seconds = atof(argv[2]);
  __builtin_cpu_init();
  const char* isa = "sse";
  run = run128;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) run = run512, isa = "avx512";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) run = run256, isa = "avx2";
  pthread_t tid[256];
  Result res[256];
  if (threads < 1) threads = 1;
  if (threads > 256) threads = 256;
  for (int i = 0; i < threads; ++i) pthread_create(&tid[i], NULL, worker, &res[i]);
  double gflops = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(tid[i], NULL);
    gflops += res[i].flops / res[i].secs / 1e9;
  }
  printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.1f}\n", isa, threads, gflops);
  return 0;
}
