// The SHMEM device API (tandem/device/shmem.cuh, window.cuh) and its host side
// (tandem/shmem.h) on real GPUs: one process per PE, started by mpirun (two
// ranks per GPU when there are more ranks than GPUs).
//
// Every test draws a fresh seed on PE 0 and broadcasts it on the host path;
// data are pseudo-random bytes derived from (seed, PE, tag, index) so that a
// receiver can compute what it must see without another transfer, and every
// case has its own tag (stale data from an earlier case or iteration is an
// error). Destinations are poisoned first and every byte of them is checked,
// inside and outside the written range. All PEs agree on each test's verdict
// (an allreduce on host memory), so a failure on one PE never leaves another
// waiting in a later collective.
//
// The harness, shared by the files of shmem_device_test (one binary): this
// header; shmem_data.cu (the data pattern kernels: fill and check);
// shmem_device_test.cu (process-wide state, host helpers, main). The tests:
// shmem_identity_test.cu (my_pe, n_pes, ptr), shmem_put_get_test.cu,
// shmem_signal_test.cu (put_signal, signal/wait), shmem_ordering_test.cu
// (fence, quiet, barriers), shmem_atomics_test.cu, shmem_stream_test.cu
// (stream-ordered helpers), shmem_window_test.cu, shmem_errors_test.cu.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tandem/device/shmem.cuh"
#include "tandem/device/window.cuh"
#include "tandem/shmem.h"
#include "tandem/tandem.h"
#include "tests/common/seeded_data.h"
#include "tests/common/world.h"

namespace shmem_device_test {

namespace ts = tandem::shmem;
namespace tw = tandem::window;
using ts::Scope;

// ---- process-wide state (set once in main) ----

extern tdmComm_t g_comm;
extern int g_rank;
extern int g_npes;
extern tdmShmemDevice_t g_dev;
extern cudaStream_t g_stream;
extern bool g_shared_gpu;  // some GPU serves two PEs: spin waits time-slice, fewer iterations
extern int g_sms;

// Iterations of the loops that hand data around the ring: each one needs
// every PE to run, which costs a time slice when PEs share a GPU.
int ring_iterations(int alone);

#define CUDA_EXPECT(call)                                                                      \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    EXPECT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_) << " (PE " << g_rank \
                               << ")";                                                         \
  } while (0)
#define TDM_EXPECT(call)                                                                       \
  do {                                                                                         \
    tdmResult_t r_ = (call);                                                                   \
    EXPECT_EQ(r_, tdmSuccess) << #call << ": " << tdmGetLastError(g_comm) << " (PE " << g_rank \
                              << ")";                                                          \
  } while (0)
#define LAUNCHED() CUDA_EXPECT(cudaGetLastError())

// ---- data ----

constexpr uint8_t kPoison = 0xA5;

using tdm::test::fmix64;

// Byte `i` of the data PE `pe` sends in case `tag`; never the poison.
__host__ __device__ inline uint8_t pattern(uint64_t seed, int pe, uint64_t tag, uint64_t i) {
  const uint64_t h = fmix64(seed ^
                            fmix64((static_cast<uint64_t>(pe) + 1) * 0x9e3779b97f4a7c15ULL ^
                                   fmix64(tag + 0x632be59bd9b4e019ULL)) ^
                            (i >> 3) * 0x165667b19e3779f9ULL);
  const uint8_t v = static_cast<uint8_t>(h >> ((i & 7) * 8));
  return v == kPoison ? uint8_t{0x5a} : v;
}

// First mismatch and count, written by check kernels.
struct Errors {
  unsigned long long count;
  unsigned long long index;
  unsigned long long got;
  unsigned long long want;
};
extern Errors* g_errors;  // device memory

__device__ inline void record(Errors* e, unsigned long long index, unsigned long long got,
                              unsigned long long want) {
  if (atomicAdd(&e->count, 1ull) == 0) {
    e->index = index;
    e->got = got;
    e->want = want;
  }
}

// Waits for the stream and returns (and clears) what the check kernels found.
Errors take_errors();
#define EXPECT_NO_ERRORS(what)                                                                  \
  do {                                                                                          \
    const Errors e_ = take_errors();                                                            \
    EXPECT_EQ(e_.count, 0u) << what << " (PE " << g_rank << "): first mismatch at " << e_.index \
                            << ": got " << e_.got << ", want " << e_.want;                      \
  } while (0)

constexpr int kFillBlocks = 256, kFillThreads = 256;

// buf[j] = pattern(seed, pe, tag0 + 1 + j / period, j % period): `period`
// bytes per tag (one message per ring iteration); period 0: one tag.
void fill(void* buf, size_t bytes, uint64_t seed, int pe, uint64_t tag, size_t period = 0);

// buf[off, off + bytes) must hold pattern(seed, src_pe, tag, src_off + k), the
// rest of [0, total) the poison.
void check(const void* buf, size_t total, size_t off, size_t bytes, uint64_t seed, int src_pe,
           uint64_t tag, size_t src_off);

// ---- host helpers ----

bool all_ok(bool mine);

// Host barrier: all of this PE's device work is done, then every PE got
// here. The whole device, not just g_stream: cudaMemset and a cudaMemcpy from
// pageable memory may still be running on the legacy stream when they
// return, and a late one would wipe what a peer writes after the barrier
// (seen with 2 PEs per GPU, where time slicing delays them).
void host_barrier();

template <typename T>
std::vector<T> all_gather(const std::vector<T>& mine, tdmDataType_t type) {
  std::vector<T> all(mine.size() * g_npes);
  TDM_EXPECT(tdmAllGather(mine.data(), all.data(), mine.size(), type, g_comm, nullptr));
  return all;
}

// One tdmShmemMalloc'd object, freed (collectively) at the end of the scope.
struct Sym {
  void* p = nullptr;
  explicit Sym(size_t bytes) { TDM_EXPECT(tdmShmemMalloc(g_comm, bytes, &p)); }
  ~Sym() {
    if (p) {
      tdmResult_t r = tdmShmemFree(g_comm, p);
      EXPECT_EQ(r, tdmSuccess) << "tdmShmemFree: " << tdmGetLastError(g_comm);
    }
  }
  Sym(const Sym&) = delete;
  Sym& operator=(const Sym&) = delete;
  template <typename T = uint8_t>
  T* as() const {
    return static_cast<T*>(p);
  }
};

// Plain device memory of this process.
struct Local {
  void* p = nullptr;
  explicit Local(size_t bytes) { CUDA_EXPECT(cudaMalloc(&p, bytes)); }
  ~Local() { cudaFree(p); }
  Local(const Local&) = delete;
  Local& operator=(const Local&) = delete;
  template <typename T = uint8_t>
  T* as() const {
    return static_cast<T*>(p);
  }
};

int next_pe();
int prev_pe();

// Every test: a fresh seed from PE 0, and at the end one verdict for all PEs.
class Shmem : public ::testing::Test {
 protected:
  void SetUp() override {
    uint64_t mine = 0;
    if (g_rank == 0)
      mine = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}() ^
             static_cast<uint64_t>(getpid());
    seed_ = 0;
    TDM_EXPECT(tdmBroadcast(&mine, &seed_, 1, tdmUint64, 0, g_comm, nullptr));
    CUDA_EXPECT(cudaMemsetAsync(g_errors, 0, sizeof(Errors), g_stream));  // g_stream: non-blocking
  }
  void TearDown() override {
    CUDA_EXPECT(cudaStreamSynchronize(g_stream));
    CUDA_EXPECT(cudaGetLastError());
    const bool mine = !HasFailure();
    if (!all_ok(mine) && mine) ADD_FAILURE() << "this test failed on another PE";
  }
  uint64_t seed_ = 0;
};

// The threads of a group of scope S (put/get and put_signal tests).
template <Scope S>
__device__ inline bool in_group() {
  if constexpr (S == Scope::kThread) return threadIdx.x == 0;
  if constexpr (S == Scope::kWarp) return threadIdx.x >= 32 && threadIdx.x < 64;  // warp 1
  return true;
}

const char* scope_name(Scope s);

}  // namespace shmem_device_test
