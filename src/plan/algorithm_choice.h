// Which algorithm runs a call: for host memory (the CPU engine's plans) and
// for device memory (the CUDA engine's kernels), with the environment
// overrides of each. Settings are read at init and agreed across ranks
// (rank 0's environment wins), so every rank takes the same decision.
// Plain C++17 (nvcc compiles it for the kernels).
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan/collective.h"

namespace tdm::plan {

// ---- host memory ----

// One-shot: every rank sends its vector to every peer and reduces in rank
// order (latency). Ring: reduce-scatter then allgather (bandwidth).
// Hierarchical: reduce inside each host, ring across hosts, broadcast back.
enum class HostAllReduce : int32_t { kOneShot = 0, kRing = 1, kHierarchical = 2 };
const char* name_of(HostAllReduce algorithm);

struct HostAllReduceSettings {
  uint64_t oneshot_max_bytes;  // TANDEM_ONESHOT_MAX_BYTES (default 32 KiB)
  int32_t forced;              // TANDEM_ALLREDUCE_ALGO=oneshot|ring|hier; -1: by size
  int32_t padding;
};
// Throws tdmInvalidArgument on an unknown TANDEM_ALLREDUCE_ALGO.
HostAllReduceSettings host_allreduce_settings_from_env();
// Forced, else one-shot up to oneshot_max_bytes, hierarchical when ranks span
// hosts and share some, ring otherwise.
HostAllReduce choose_host_allreduce(const HostAllReduceSettings& settings, size_t bytes, int nranks,
                                    int nhosts);

// ---- device memory ----

enum class CudaAllReduce : int32_t { kAuto = 0, kOneShot = 1, kTwoShot = 2, kPipelined = 3 };
const char* name_of(CudaAllReduce algorithm);

// The kernel family a call on device buffers runs with.
enum class CudaKernel {
  kOneShotLL,  // low-latency lines, every rank to every rank
  kTwoShotLL,  // allreduce only: shard p reduced by rank p, then sent to all
  kPipelined,  // slots over the channels (bandwidth)
};

struct CudaSettings {
  uint64_t ll_max_bytes;       // TANDEM_CUDA_LL_MAX_BYTES: the LL area per source
  uint64_t oneshot_max_bytes;  // TANDEM_CUDA_ONESHOT_MAX_BYTES
  uint64_t ce_min_bytes;       // TANDEM_CUDA_CE / TANDEM_CUDA_CE_MIN_BYTES (0: off)
  uint64_t direct_min_bytes;   // TANDEM_CUDA_DIRECT_MIN_BYTES (0: off)
  int32_t forced;              // TANDEM_CUDA_ALLREDUCE_ALGO (CudaAllReduce)
  int32_t padding;
};
// Defaults by rank count, as measured (docs/benchmarks-cuda.md). Throws
// tdmInvalidArgument on an unknown TANDEM_CUDA_ALLREDUCE_ALGO.
CudaSettings cuda_settings_from_env(int nranks);

// Bytes of the shard each rank reduces in the two-shot allreduce (8-byte lines).
constexpr size_t two_shot_shard_bytes(size_t bytes, int nranks) {
  return (bytes + size_t(nranks) * 8 - 1) / (size_t(nranks) * 8) * 8;
}
// Kernel for a collective of `message` bytes (the count argument's bytes).
CudaKernel choose_cuda_kernel(const CudaSettings& settings, CallKind kind, size_t message,
                              int nranks);
// Whether an allgather or broadcast of `block` bytes per rank may go through
// the copy engines (when its receive buffer lies in a symmetric window).
bool copy_engine_eligible(const CudaSettings& settings, CallKind kind, size_t block);
// Whether an all-to-all of `block` bytes per peer captured in a CUDA graph
// may store straight into the peers' receive buffers (mapped at capture):
// from the threshold, in whole 16-byte vectors (an odd block would leave
// every copy but the first misaligned, and byte by byte).
bool direct_eligible(const CudaSettings& settings, CallKind kind, size_t block);

}  // namespace tdm::plan
