// Winograd F(4x4, 3x3) convolution and the bounded convolution workspace.
//
// A 3x3 stride-1 convolution computed on 4x4 output tiles: each 6x6 input
// tile is transformed (B^T d B), the 36 transformed points multiply the
// transformed filters (G g G^T) as 36 independent [tiles x C] x [C x K]
// GEMMs on the packed micro-kernel, and the output transform (A^T m A) writes
// 4x4 outputs, bias and activation included. 2.25x fewer multiply-adds than
// the direct product.
//
// Backward to the input of such a convolution is the same computation on dy
// with the filter flipped in both spatial axes and its channel axes swapped
// (flip = true), with padding 2 - pad.
#pragma once
#include <cstdint>

#include "../core/ops.h"

namespace ec::cpu {

// Bytes any one convolution may use for its scratch buffers (im2col patches,
// Winograd transforms), across all threads: EYECANDY_WORKSPACE_MB (default 64).
int64_t workspace_cap_bytes();
// A 64-byte aligned buffer of at least `floats` floats, one per thread and
// slot, kept and reused across calls (grown when a larger one is asked for).
float* workspace(int slot, int64_t floats);
enum WorkspaceSlot {
  kSlotShared = 0, kSlotTiles, kSlotCols, kSlotDcols, kSlotPackA, kSlotPackB, kSlotCount
};
// The pool's worker threads keep their own buffers. A thread that calls in
// (Node runs calls on whichever libuv thread is free) leases a set for the
// scope's lifetime from a process-wide free list, so consecutive calls reuse
// the same warm pages whatever thread they run on. Nested scopes share the lease.
class WorkspaceScope {
 public:
  WorkspaceScope();
  ~WorkspaceScope();
  WorkspaceScope(const WorkspaceScope&) = delete;
  WorkspaceScope& operator=(const WorkspaceScope&) = delete;

 private:
  bool owner_ = false;
};

struct WinoConv {
  int64_t N, IH, IW, C;  // input [N, IH, IW, C]
  int64_t OH, OW, K;     // output [N, OH, OW, K]
  int64_t pt, pl;        // output (oh, ow) reads input rows oh - pt + 0..2, columns ow - pl + 0..2
  int64_t tiles() const { return N * ((OH + 3) / 4) * ((OW + 3) / 4); }
};

// How one Winograd convolution is run: `block` tiles at a time; `per_thread`:
// blocks run concurrently, each on one thread (small, cache-sized blocks),
// else one block at a time with each phase spread over the threads.
// all_points: the filters of all 36 points transformed once, in one pass
// over the weights, before the first block (else one transform row of 6
// points at a time, per block, in cache for their GEMMs).
struct WinoPlan {
  int64_t block = 0;
  bool per_thread = false;
  bool all_points = false;
};

// The candidate schedules for a shape; block == 0 when it cannot run within
// the workspace. Small: per-thread cache-sized blocks; large: phased blocks,
// filters by transform row; whole: phased blocks, filters all at once (for
// few tiles per filter element, e.g. 512 channels at 28x28 or 14x14, where
// transforming by row reads the weights six times and costs as much as the
// products).
WinoPlan wino_plan_small(const WinoConv& c);
WinoPlan wino_plan_large(const WinoConv& c);
WinoPlan wino_plan_whole(const WinoConv& c);

// y = conv(x, w) (+ bias, then the epilogue). w is HWIO [3,3,C,K], or with
// flip the forward filter [3,3,K,C] of the convolution being differentiated.
void winograd_conv(const WinoConv& c, const WinoPlan& p, const float* x, const float* w, bool flip,
                   const float* bias, float* y, const Epilogue& ep);

}  // namespace ec::cpu
