// What the three fused ops share: rank facts, the agreed settings, the
// cuBLASLt GEMM, the high-priority side stream with its events, the choice
// between the fused path and the sequential pair, and the sequential pair's
// collective (enqueued on Tandem's own CUDA engine).
#pragma once

#include <cstddef>
#include <vector>

#include "fused/fused_op.h"
#include "fused/gemm.h"
#include "fused/settings.h"
#include "fused/stream.h"
#include "plan/collective.h"

namespace tdm::fused {

class OpBase : public FusedOp {
 protected:
  // `events`: how many per-chunk events the op records on the GEMM stream.
  OpBase(Kind kind, Comm& comm, const tdmGemmShape_t& shape, size_t events);

  // The fused path for `m` rows, or the sequential pair (Settings::mode,
  // else AG/RS below min_rows rows per rank).
  bool fused_for(size_t m) const;
  // Collective: under TANDEM_FUSED_MODE=auto, whether the fused path runs
  // (rank 0's answer wins: the paths exchange different flags). Ops call it
  // at create with their estimates from tuned GEMM times (logged at INFO).
  void decide(bool fused_wins, double fused_us, double seq_us);
  // Microseconds to move `bytes` over one NVLink direction of the H200 pair
  // (the copy engine and NCCL's allgather reach ~210 GB/s), plus a launch.
  static double link_us(size_t bytes) { return 5.0 + static_cast<double>(bytes) / 210e3; }
  // One Tandem collective on device buffers, enqueued on `stream`.
  void collective(plan::CallKind kind, const void* send, void* recv, size_t count,
                  cudaStream_t stream);
  // side_ starts after what `stream` holds so far / `stream` waits for side_.
  void fork(cudaStream_t stream) { follow(side_.get(), stream, fork_.get()); }
  void join(cudaStream_t stream) { follow(stream, side_.get(), join_.get()); }
  char* at(const void* base, size_t elems) const {
    return static_cast<char*>(const_cast<void*>(base)) + elems * elem_;
  }

  int rank_, nranks_;
  size_t elem_;  // bytes per element
  Settings settings_;
  bool auto_fused_ = true;  // decide()'s agreed answer
  Gemm gemm_;
  Stream side_;
  Event fork_, join_;
  std::vector<Event> events_;
};

}  // namespace tdm::fused
