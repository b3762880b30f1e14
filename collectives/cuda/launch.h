// Host entry points of the collective kernels (compiled by nvcc, called by
// the engine). Each enqueues one kernel on `stream` and returns its launch error.
#pragma once

#include <cuda_runtime_api.h>

#include "collectives/cuda/dev_comm.h"
#include "tandem/shmem.h"

namespace tdm::cuda {

// Low-latency one-shot kernels: allreduce and reduce-scatter (reducing),
// allgather and all-to-all (moving). Every rank sends to and receives from
// every other rank in each of them (the LL buffers' reuse relies on it).
cudaError_t launch_ll(const DevComm& c, const CollArgs& a, cudaStream_t stream);
// Two-shot allreduce on LL lines: shard p reduced by rank p, then sent to all.
// Needs 2 * plan::two_shot_shard_bytes / 8 lines per source of the LL area.
cudaError_t launch_ll_two_shot(const DevComm& c, const CollArgs& a, cudaStream_t stream);
// Pipelined bandwidth kernels over the channels: every collective kind.
cudaError_t launch_bulk(const DevComm& c, const CollArgs& a, cudaStream_t stream);
// Grouped sends and receives to other ranks (self copies are done by the caller).
cudaError_t launch_p2p(const DevComm& c, const P2pArgs& a, cudaStream_t stream);

// Up to kMaxRanks copies of `bytes` each, all at once over the grid
// (chunks of every copy interleaved, so NVLink stores to every peer and the
// local copy run side by side): the direct all-to-all.
struct CopyList {
  int n = 0;
  size_t bytes = 0;
  const char* src[kMaxRanks] = {};
  char* dst[kMaxRanks] = {};
};
cudaError_t launch_copy_list(const CopyList& l, cudaStream_t stream);

// SHMEM stream helpers (tandem/shmem.h).
cudaError_t launch_shmem_barrier(const tdmShmemDevice_t& sh, cudaStream_t stream);
cudaError_t launch_shmem_signal(const tdmShmemDevice_t& sh, uint64_t* sig, uint64_t value,
                                tdmSignalOp_t op, int pe, cudaStream_t stream);
cudaError_t launch_shmem_wait(const tdmShmemDevice_t& sh, uint64_t* sig, tdmCmp_t cmp,
                              uint64_t value, cudaStream_t stream);

}  // namespace tdm::cuda
