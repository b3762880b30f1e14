// The fused ops' few kernels (kernels.cu): the fp32-accumulating sum of up to
// eight equal-shaped inputs (local or a peer's, read over NVLink), and the
// one-thread flag kernels behind TANDEM_FUSED_FLAGS=kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "tandem/tandem.h"

namespace tdm::fused {

constexpr int kMaxRanks = 8;

struct SumInputs {
  const void* src[kMaxRanks];
  int count;
};

// out[i] (and out2[i] when out2 is not null) = sum over j of in.src[j][i],
// i < elems, summed in float; `type` is tdmBfloat16 or tdmFloat16. `blocks`
// caps the grid (0: enough to cover the input, up to two per SM).
cudaError_t launch_sum(const SumInputs& in, void* out, void* out2, size_t elems, tdmDataType_t type,
                       int blocks, cudaStream_t stream);

// GEMM-AR's one-shot allreduce in one kernel, no stream memops: each block
// meets block b of every peer at a start barrier (the peers' partials, written
// by kernels before this one, are complete), sums its share of every rank's
// partial into out in fp32, then meets them at an end barrier (nobody reads
// this rank's partial any more, so the next call may overwrite it). Flags
// carry an epoch from a per-block counter in local device memory, so a CUDA
// graph replays it unchanged. Same grid on every rank (from elems alone).
constexpr int kArMaxBlocks = 128;  // at most one block per SM: pairs of blocks across ranks spin on
                                   // each other, so all must be resident
struct ArArgs {
  const void* partial[kMaxRanks];  // by rank: that rank's partial product
  uint32_t* flags[kMaxRanks];      // by rank: its barrier words, ar_flag_words() of them
  uint32_t* counters;              // this rank's per-block epochs, kArMaxBlocks of them
  int rank, nranks;
};
constexpr size_t ar_flag_words() { return 2 * static_cast<size_t>(kArMaxBlocks) * kMaxRanks; }
cudaError_t launch_ar_one_shot(const ArArgs& args, void* out, size_t elems, tdmDataType_t type,
                               int blocks, cudaStream_t stream);

cudaError_t launch_raise_flag(uint32_t* flag, cudaStream_t stream);
cudaError_t launch_await_flag(uint32_t* flag, cudaStream_t stream);

}  // namespace tdm::fused
