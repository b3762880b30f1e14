// Checks shared by the multi-rank GPU tests (tests/gpu/fused, tests/gpu/ep),
// one process per rank: CUDA_OK / TDM_OK assert a call's success naming the
// call, its error and the rank (they expect the test's GpuWorld to be named
// `g`); all_ok agrees a verdict across ranks; shared_seed gives every rank
// rank 0's fresh random seed.
#ifndef TANDEM_TESTS_COMMON_GPU_CHECKS_H_
#define TANDEM_TESTS_COMMON_GPU_CHECKS_H_

#include <unistd.h>

#include <cstdint>
#include <random>

#include "tandem/tandem.h"
#include "tests/common/world.h"

#define CUDA_OK(call)                                                                            \
  do {                                                                                           \
    cudaError_t e_ = (call);                                                                     \
    ASSERT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_) << " (rank " << g.rank \
                               << ")";                                                           \
  } while (0)
#define TDM_OK(call)                                                                              \
  do {                                                                                            \
    tdmResult_t r_ = (call);                                                                      \
    ASSERT_EQ(r_, tdmSuccess) << #call << ": " << tdmGetLastError(nullptr) << " (rank " << g.rank \
                              << ")";                                                             \
  } while (0)

namespace tdm::test {

// True when `mine` holds on every rank (an allreduce on host memory).
inline bool all_ok(const GpuWorld& world, bool mine) {
  int v = mine ? 1 : 0, all = 0;
  if (tdmAllReduce(&v, &all, 1, tdmInt32, tdmMin, world.comm, nullptr) != tdmSuccess) return false;
  return all == 1;
}

inline uint64_t shared_seed(const GpuWorld& world) {
  uint64_t mine = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^ getpid();
  uint64_t seed = 0;
  tdmBroadcast(&mine, &seed, 1, tdmUint64, 0, world.comm, nullptr);
  return seed;
}

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_GPU_CHECKS_H_
