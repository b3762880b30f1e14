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

namespace {

namespace ts = tandem::shmem;
namespace tw = tandem::window;
using ts::Scope;

// ---- process-wide state (set once in main) ----

tdmComm_t g_comm = nullptr;
int g_rank = 0;
int g_npes = 1;
tdmShmemDevice_t g_dev{};
cudaStream_t g_stream = nullptr;
bool g_shared_gpu = false;  // some GPU serves two PEs: spin waits time-slice, fewer iterations
int g_sms = 1;

// Iterations of the loops that hand data around the ring: each one needs
// every PE to run, which costs a time slice when PEs share a GPU.
int ring_iterations(int alone) { return g_shared_gpu ? std::max(alone / 10, 8) : alone; }

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
Errors* g_errors = nullptr;  // device memory

__device__ inline void record(Errors* e, unsigned long long index, unsigned long long got,
                              unsigned long long want) {
  if (atomicAdd(&e->count, 1ull) == 0) {
    e->index = index;
    e->got = got;
    e->want = want;
  }
}

// Waits for the stream and returns (and clears) what the check kernels found.
Errors take_errors() {
  Errors e{};
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  CUDA_EXPECT(cudaMemcpy(&e, g_errors, sizeof(e), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemsetAsync(g_errors, 0, sizeof(Errors), g_stream));  // g_stream: non-blocking
  return e;
}
#define EXPECT_NO_ERRORS(what)                                                                  \
  do {                                                                                          \
    const Errors e_ = take_errors();                                                            \
    EXPECT_EQ(e_.count, 0u) << what << " (PE " << g_rank << "): first mismatch at " << e_.index \
                            << ": got " << e_.got << ", want " << e_.want;                      \
  } while (0)

constexpr int kFillBlocks = 256, kFillThreads = 256;

// buf[j] = pattern(seed, pe, tag0 + 1 + j / period, j % period): `period`
// bytes per tag (one message per ring iteration); period 0: one tag.
__global__ void fill_kernel(uint8_t* buf, size_t bytes, uint64_t seed, int pe, uint64_t tag0,
                            size_t period) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < bytes;
       j += size_t(gridDim.x) * blockDim.x)
    buf[j] =
        period ? pattern(seed, pe, tag0 + 1 + j / period, j % period) : pattern(seed, pe, tag0, j);
}
void fill(void* buf, size_t bytes, uint64_t seed, int pe, uint64_t tag, size_t period = 0) {
  fill_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(static_cast<uint8_t*>(buf), bytes, seed,
                                                          pe, tag, period);
  LAUNCHED();
}

// buf[off, off + bytes) must hold pattern(seed, src_pe, tag, src_off + k), the
// rest of [0, total) the poison.
__global__ void check_kernel(const uint8_t* buf, size_t total, size_t off, size_t bytes,
                             uint64_t seed, int src_pe, uint64_t tag, size_t src_off, Errors* e) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const uint8_t want =
        (i >= off && i < off + bytes) ? pattern(seed, src_pe, tag, src_off + (i - off)) : kPoison;
    if (buf[i] != want) record(e, i, buf[i], want);
  }
}
void check(const void* buf, size_t total, size_t off, size_t bytes, uint64_t seed, int src_pe,
           uint64_t tag, size_t src_off) {
  check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
      static_cast<const uint8_t*>(buf), total, off, bytes, seed, src_pe, tag, src_off, g_errors);
  LAUNCHED();
}

// ---- host helpers ----

bool all_ok(bool mine) {
  int32_t failed = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&failed, &total, 1, tdmInt32, tdmSum, g_comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "PE %d: verdict allreduce failed: %s\n", g_rank, tdmGetLastError(g_comm));
    return false;
  }
  return total == 0;
}

// Host barrier: all of this PE's device work is done, then every PE got
// here. The whole device, not just g_stream: cudaMemset and a cudaMemcpy from
// pageable memory may still be running on the legacy stream when they
// return, and a late one would wipe what a peer writes after the barrier
// (seen with 2 PEs per GPU, where time slicing delays them).
void host_barrier() {
  CUDA_EXPECT(cudaDeviceSynchronize());
  all_ok(true);
}

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

int next_pe() { return (g_rank + 1) % g_npes; }
int prev_pe() { return (g_rank + g_npes - 1) % g_npes; }

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

// ============================================================================
// my_pe / n_pes / ptr
// ============================================================================

__global__ void identity_kernel(tdmShmemDevice_t sh, char* obj, uint64_t* word, int* pes,
                                void** ptrs, void** word_ptrs) {
  pes[0] = ts::my_pe(sh);
  pes[1] = ts::n_pes(sh);
  for (int pe = -1; pe <= sh.n_pes; ++pe) {
    ptrs[pe + 1] = ts::ptr(sh, obj, pe);
    word_ptrs[pe + 1] = ts::ptr(sh, word, pe);
  }
}

TEST_F(Shmem, IdentityAndSymmetricPointers) {
  const size_t sizes[] = {1000, 3 * 4096 + 1, 1 << 20, 24};
  std::vector<Sym*> objs;
  for (size_t s : sizes) objs.push_back(new Sym(s));
  void* none = reinterpret_cast<void*>(1);
  TDM_EXPECT(tdmShmemMalloc(g_comm, 0, &none));
  EXPECT_EQ(none, nullptr) << "size 0 gives NULL";

  // Same offsets on every PE, 256-byte aligned, inside the heap, disjoint.
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    const char* p = objs[i]->as<char>();
    EXPECT_NE(p, nullptr) << "allocation " << i;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u) << "allocation " << i;
    EXPECT_GE(p, g_dev.heap);
    EXPECT_LE(p + sizes[i], g_dev.heap + g_dev.heap_size);
    offsets.push_back(static_cast<uint64_t>(p - g_dev.heap));
    for (size_t j = 0; j < i; ++j) {
      const char* q = objs[j]->as<char>();
      EXPECT_TRUE(p + sizes[i] <= q || q + sizes[j] <= p) << "allocations " << i << ", " << j;
    }
  }
  const auto all = all_gather(offsets, tdmUint64);
  for (int pe = 0; pe < g_npes; ++pe)
    for (size_t i = 0; i < offsets.size(); ++i)
      EXPECT_EQ(all[pe * offsets.size() + i], offsets[i])
          << "allocation " << i << " is not at the same offset on PE " << pe;

  // The device's my_pe, n_pes and ptr agree with the host's answers.
  char* obj = objs[1]->as<char>() + 7;  // inside an object, odd offset
  uint64_t* word = objs[3]->as<uint64_t>();
  Local pes(2 * sizeof(int)), ptrs((g_npes + 2) * sizeof(void*)),
      word_ptrs((g_npes + 2) * sizeof(void*));
  identity_kernel<<<1, 1, 0, g_stream>>>(g_dev, obj, word, pes.as<int>(), ptrs.as<void*>(),
                                         word_ptrs.as<void*>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  int h_pes[2] = {-1, -1};
  std::vector<void*> h_ptrs(g_npes + 2), h_word_ptrs(g_npes + 2);
  CUDA_EXPECT(cudaMemcpy(h_pes, pes.p, sizeof(h_pes), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(
      cudaMemcpy(h_ptrs.data(), ptrs.p, h_ptrs.size() * sizeof(void*), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h_word_ptrs.data(), word_ptrs.p, h_word_ptrs.size() * sizeof(void*),
                         cudaMemcpyDeviceToHost));
  EXPECT_EQ(h_pes[0], g_rank);
  EXPECT_EQ(h_pes[1], g_npes);
  EXPECT_EQ(g_dev.my_pe, g_rank);
  EXPECT_EQ(g_dev.n_pes, g_npes);
  EXPECT_EQ(h_ptrs[0], nullptr) << "ptr(pe = -1)";
  EXPECT_EQ(h_ptrs[g_npes + 1], nullptr) << "ptr(pe = n_pes)";
  EXPECT_EQ(h_word_ptrs[0], nullptr);
  EXPECT_EQ(h_word_ptrs[g_npes + 1], nullptr);
  EXPECT_EQ(h_ptrs[g_rank + 1], obj) << "ptr(my_pe) is the local address";
  for (int pe = 0; pe < g_npes; ++pe) {
    void* host = nullptr;
    TDM_EXPECT(tdmShmemPtr(g_comm, obj, pe, &host));
    EXPECT_EQ(h_ptrs[pe + 1], host) << "device ptr and tdmShmemPtr disagree for PE " << pe;
    EXPECT_NE(host, nullptr) << "PE " << pe << " on this host is not load/store reachable";
    TDM_EXPECT(tdmShmemPtr(g_comm, word, pe, &host));
    EXPECT_EQ(h_word_ptrs[pe + 1], host) << "word, PE " << pe;
    if (g_dev.peer_stride != 0)
      EXPECT_EQ(h_ptrs[pe + 1], obj + (pe - g_rank) * g_dev.peer_stride) << "PE " << pe;
  }
  for (Sym* s : objs) delete s;
}

// ============================================================================
// put / get at every scope, blocking and nbi, sizes and offsets
// ============================================================================

template <Scope S>
__device__ inline bool in_group() {
  if constexpr (S == Scope::kThread) return threadIdx.x == 0;
  if constexpr (S == Scope::kWarp) return threadIdx.x >= 32 && threadIdx.x < 64;  // warp 1
  return true;
}

// Between two device barriers (so every PE's poison and source are in place
// before, and every transfer is complete after): put to `pe` or get from it.
template <Scope S, bool kGet, bool kNbi>
__global__ void xfer_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src, size_t bytes,
                            int pe) {
  ts::barrier<Scope::kBlock>(sh);
  if (in_group<S>()) {
    if constexpr (kGet) {
      if constexpr (kNbi) {
        ts::get_nbi<S>(sh, dst, src, bytes, pe);
        ts::quiet(sh);
      } else {
        ts::get<S>(sh, dst, src, bytes, pe);
      }
    } else {
      if constexpr (kNbi) {
        ts::put_nbi<S>(sh, dst, src, bytes, pe);
        ts::quiet(sh);
      } else {
        ts::put<S>(sh, dst, src, bytes, pe);
      }
    }
  }
  ts::barrier<Scope::kBlock>(sh);
}

template <Scope S>
void launch_xfer(bool get, bool nbi, uint8_t* dst, const uint8_t* src, size_t bytes, int pe) {
  constexpr int kThreads = 256;
  if (get && nbi)
    xfer_kernel<S, true, true><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else if (get)
    xfer_kernel<S, true, false><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else if (nbi)
    xfer_kernel<S, false, true><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else
    xfer_kernel<S, false, false><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  LAUNCHED();
}

const char* scope_name(Scope s) {
  return s == Scope::kThread ? "thread" : s == Scope::kWarp ? "warp" : "block";
}

TEST_F(Shmem, PutGetEveryScopeSizeAndOffset) {
  const size_t sizes[] = {1, 3, 16, 1000, 4096 + 5, 1 << 20};
  // (source offset, destination offset): 16-byte, 4-byte and byte paths.
  const size_t offsets[][2] = {{0, 0}, {4, 12}, {1, 3}, {5, 5}, {16, 7}};
  constexpr size_t kMax = (1 << 20) + 64;
  Sym src(kMax), dst(kMax);
  uint64_t tag = 0;
  for (bool get : {false, true})
    for (Scope scope : {Scope::kThread, Scope::kWarp, Scope::kBlock})
      for (bool nbi : {false, true})
        for (size_t bytes : sizes)
          for (const auto& off : offsets) {
            ++tag;
            CUDA_EXPECT(cudaMemsetAsync(dst.p, kPoison, kMax, g_stream));
            fill(src.p, kMax, seed_, g_rank, tag);
            const uint8_t* s = src.as() + off[0];
            uint8_t* d = dst.as() + off[1];
            // put: my source to the next PE's dst; get: the previous PE's
            // source to my dst. Either way my dst holds the previous PE's data.
            const int pe = get ? prev_pe() : next_pe();
            if (scope == Scope::kThread)
              launch_xfer<Scope::kThread>(get, nbi, d, s, bytes, pe);
            else if (scope == Scope::kWarp)
              launch_xfer<Scope::kWarp>(get, nbi, d, s, bytes, pe);
            else
              launch_xfer<Scope::kBlock>(get, nbi, d, s, bytes, pe);
            check(dst.p, kMax, off[1], bytes, seed_, prev_pe(), tag, off[0]);
            EXPECT_NO_ERRORS((get ? "get" : "put")
                             << (nbi ? "_nbi" : "") << "<" << scope_name(scope) << "> of " << bytes
                             << " B, offsets " << off[0] << "/" << off[1]);
          }
}

// Warp scope in a block whose x extent is not a multiple of 32: the group is
// the hardware warp (lanes by linear thread index), not threadIdx.x & 31.
__global__ void warp_2d_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src, size_t bytes,
                               int pe) {
  ts::barrier<Scope::kBlock>(sh);
  const int linear = threadIdx.x + blockDim.x * threadIdx.y;
  if (linear / 32 == 1) ts::put<Scope::kWarp>(sh, dst, src, bytes, pe);
  ts::barrier<Scope::kBlock>(sh);
}

TEST_F(Shmem, WarpScopeInATwoDimensionalBlock) {
  constexpr size_t kBytes = 4096 + 48, kTotal = kBytes + 64;
  Sym src(kTotal), dst(kTotal);
  CUDA_EXPECT(cudaMemsetAsync(dst.p, kPoison, kTotal, g_stream));
  fill(src.p, kTotal, seed_, g_rank, 1);
  warp_2d_kernel<<<1, dim3(8, 8), 0, g_stream>>>(g_dev, dst.as(), src.as(), kBytes, next_pe());
  LAUNCHED();
  check(dst.p, kTotal, 0, kBytes, seed_, prev_pe(), 1, 0);
  EXPECT_NO_ERRORS("put<warp> from warp 1 of an 8x8 block");
}

// ---- p / g ----

template <typename T>
__host__ __device__ inline T element(uint64_t seed, int pe, uint64_t tag, int k) {
  uint8_t bytes[sizeof(T)];
  for (size_t b = 0; b < sizeof(T); ++b) bytes[b] = pattern(seed, pe, tag, k * sizeof(T) + b);
  T v;
  memcpy(&v, bytes, sizeof(T));
  return v;
}
template <typename T>
__device__ inline unsigned long long bits_of(T v) {
  unsigned long long out = 0;
  memcpy(&out, &v, sizeof(T));
  return out;
}
template <typename T>
__device__ inline bool same_bits(T a, T b) {
  return bits_of(a) == bits_of(b);
}

template <typename T>
__global__ void pg_kernel(tdmShmemDevice_t sh, T* slots, int count, uint64_t seed, uint64_t tag,
                          Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  ts::barrier<Scope::kBlock>(sh);  // every PE poisoned its slots
  for (int k = threadIdx.x; k < count; k += blockDim.x)
    ts::p<T>(sh, &slots[k], element<T>(seed, me, tag, k), next);
  ts::barrier<Scope::kBlock>(sh);
  for (int k = threadIdx.x; k < count; k += blockDim.x) {
    const T back = ts::g<T>(sh, &slots[k], next);  // what I wrote there
    const T want_back = element<T>(seed, me, tag, k);
    if (!same_bits(back, want_back)) record(e, k, bits_of(back), bits_of(want_back));
    const T mine = slots[k];  // what the previous PE wrote here
    const T want_mine = element<T>(seed, prev, tag, k);
    if (!same_bits(mine, want_mine)) record(e, count + k, bits_of(mine), bits_of(want_mine));
  }
  ts::barrier<Scope::kBlock>(sh);  // every g done before anyone reuses the slots
}

template <typename T>
void run_pg(const char* name, uint64_t seed, uint64_t tag) {
  constexpr int kCount = 1000;
  Sym slots(kCount * sizeof(T));
  CUDA_EXPECT(cudaMemsetAsync(slots.p, kPoison, kCount * sizeof(T), g_stream));
  pg_kernel<T><<<1, 192, 0, g_stream>>>(g_dev, slots.as<T>(), kCount, seed, tag, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("p/g of " << name << " (index >= " << kCount << ": local slot)");
}

TEST_F(Shmem, SingleElementsPG) {
  run_pg<uint8_t>("uint8", seed_, 1);
  run_pg<int16_t>("int16", seed_, 2);
  run_pg<int32_t>("int32", seed_, 3);
  run_pg<uint64_t>("uint64", seed_, 4);
  run_pg<float>("float", seed_, 5);
  run_pg<double>("double", seed_, 6);
}

// ============================================================================
// put_signal: data before signal, around the ring, many iterations
// ============================================================================

template <Scope S>
__device__ inline int g_rank_in() {
  if constexpr (S == Scope::kThread) return 0;
  if constexpr (S == Scope::kWarp) return threadIdx.x - 32;
  return threadIdx.x;
}
template <Scope S>
__device__ inline int g_size_in() {
  if constexpr (S == Scope::kThread) return 1;
  if constexpr (S == Scope::kWarp) return 32;
  return blockDim.x;
}
template <Scope S>
__device__ inline void g_sync_in() {
  if constexpr (S == Scope::kWarp) __syncwarp();
  if constexpr (S == Scope::kBlock) __syncthreads();
}

// Iteration i: wait until the next PE consumed i - 1 (ack), put_signal
// message i to it, wait for the previous PE's message i (signal), check every
// byte of it, acknowledge. A signal seen before its data fails the check.
template <Scope S, bool kNbi>
__global__ void ring_signal_kernel(tdmShmemDevice_t sh, uint8_t* data, const uint8_t* msgs,
                                   size_t bytes, uint64_t* sig, uint64_t* ack, int iters,
                                   tdmSignalOp_t op, uint64_t seed, uint64_t tag0, Errors* e) {
  if (!in_group<S>()) return;
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  const int rank = g_rank_in<S>(), size = g_size_in<S>();
  for (int i = 1; i <= iters; ++i) {
    if (rank == 0 && i > 1) ts::signal_wait_until(sh, ack, TDM_CMP_GE, uint64_t(i - 1));
    g_sync_in<S>();
    const uint8_t* msg = msgs + size_t(i - 1) * bytes;
    const uint64_t value = op == TDM_SIGNAL_SET ? uint64_t(i) : 1;
    if constexpr (kNbi)
      ts::put_signal_nbi<S>(sh, data, msg, bytes, sig, value, op, next);
    else
      ts::put_signal<S>(sh, data, msg, bytes, sig, value, op, next);
    if (rank == 0) {
      const uint64_t seen = ts::signal_wait_until(sh, sig, TDM_CMP_EQ, uint64_t(i));
      if (seen != uint64_t(i)) record(e, ~0ull, seen, i);
    }
    g_sync_in<S>();
    for (size_t k = rank; k < bytes; k += size) {
      const uint8_t want = pattern(seed, prev, tag0 + i, k);
      if (data[k] != want) record(e, (uint64_t(i) << 32) | k, data[k], want);
    }
    g_sync_in<S>();
    if (rank == 0) ts::signal_op(sh, ack, 1, TDM_SIGNAL_ADD, prev);
  }
}

template <Scope S>
void launch_ring_signal(bool nbi, uint8_t* data, const uint8_t* msgs, size_t bytes, uint64_t* sig,
                        uint64_t* ack, int iters, tdmSignalOp_t op, uint64_t seed, uint64_t tag0) {
  if (nbi)
    ring_signal_kernel<S, true><<<1, 256, 0, g_stream>>>(g_dev, data, msgs, bytes, sig, ack, iters,
                                                         op, seed, tag0, g_errors);
  else
    ring_signal_kernel<S, false><<<1, 256, 0, g_stream>>>(g_dev, data, msgs, bytes, sig, ack, iters,
                                                          op, seed, tag0, g_errors);
  LAUNCHED();
}

TEST_F(Shmem, PutSignalDataBeforeSignal) {
  const int iters = ring_iterations(400);
  constexpr size_t kMaxBytes = 65536 + 8;
  Sym data(kMaxBytes), words(2 * sizeof(uint64_t));
  Local msgs(size_t(iters) * kMaxBytes);
  uint64_t* sig = words.as<uint64_t>();
  uint64_t* ack = sig + 1;
  uint64_t tag0 = 0;
  for (Scope scope : {Scope::kThread, Scope::kWarp, Scope::kBlock})
    for (tdmSignalOp_t op : {TDM_SIGNAL_SET, TDM_SIGNAL_ADD})
      for (bool nbi : {false, true}) {
        // Odd sizes, larger for wider groups (more stores in flight per signal).
        const size_t bytes = scope == Scope::kThread ? 1032 + 3
                             : scope == Scope::kWarp ? 8192 + 8
                                                     : kMaxBytes;
        tag0 += 1u << 20;
        CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 2 * sizeof(uint64_t), g_stream));
        CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kMaxBytes, g_stream));
        fill(msgs.p, size_t(iters) * bytes, seed_, g_rank, tag0, bytes);
        host_barrier();  // every PE's words are zero before anyone signals
        if (scope == Scope::kThread)
          launch_ring_signal<Scope::kThread>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                             seed_, tag0);
        else if (scope == Scope::kWarp)
          launch_ring_signal<Scope::kWarp>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                           seed_, tag0);
        else
          launch_ring_signal<Scope::kBlock>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                            seed_, tag0);
        EXPECT_NO_ERRORS("put_signal" << (nbi ? "_nbi" : "") << "<" << scope_name(scope) << "> "
                                      << (op == TDM_SIGNAL_SET ? "SET" : "ADD") << ", " << bytes
                                      << " B x " << iters
                                      << " iterations (index: iteration << 32 | byte)");
        host_barrier();  // every PE done with the words before they are reset
      }
}

// ============================================================================
// signal_op / signal_wait_until / wait_until: the six comparisons
// ============================================================================

enum WordKind : int { kU64Set, kU64Add, kI32, kI64, kU32 };
struct WaitCase {
  int kind;
  int cmp;
  long long init;
  long long steps[3];  // values written in order (kU64Add: added); only the last satisfies
  long long target;
};
constexpr int kMaxWaitCases = 40;
struct WaitTable {
  int n;
  WaitCase c[kMaxWaitCases];
};

// The value of a case's word after step s (s = -1: the initial value).
__host__ __device__ inline long long after_step(const WaitCase& c, int s) {
  if (c.kind != kU64Add) return s < 0 ? c.init : c.steps[s];
  long long v = c.init;
  for (int j = 0; j <= s; ++j) v += c.steps[j];
  return v;
}

// Blocks [0, n): senders of case b to the next PE; blocks [n, 2n): receivers
// of case b - n on this PE; block 2n: everyone adds (my_pe + 1) to `sum` on
// every PE, then waits for the total.
__global__ void wait_kernel(tdmShmemDevice_t sh, WaitTable t, uint64_t* u64, int32_t* i32,
                            int64_t* i64, uint32_t* u32, uint64_t* sum, unsigned long long* seen,
                            unsigned long long* after) {
  if (threadIdx.x != 0) return;
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n;
  const int b = blockIdx.x;
  if (b == 2 * t.n) {
    for (int pe = 0; pe < n; ++pe) ts::signal_op(sh, sum, uint64_t(me + 1), TDM_SIGNAL_ADD, pe);
    const uint64_t total = uint64_t(n) * (n + 1) / 2;
    seen[t.n] = ts::signal_wait_until(sh, sum, TDM_CMP_EQ, total);
    after[t.n] = ts::signal_fetch(sh, sum);
    return;
  }
  if (b < t.n) {
    const WaitCase& c = t.c[b];
    __nanosleep(50000);  // let the receiver start waiting on the initial value
    for (int s = 0; s < 3; ++s) {
      const long long v = c.steps[s];
      switch (c.kind) {
        case kU64Set:
          ts::signal_op(sh, &u64[b], uint64_t(v), TDM_SIGNAL_SET, next);
          break;
        case kU64Add:
          ts::signal_op(sh, &u64[b], uint64_t(v), TDM_SIGNAL_ADD, next);
          break;
        case kI32:
          ts::p<int32_t>(sh, &i32[b], int32_t(v), next);
          break;
        case kI64:
          ts::p<int64_t>(sh, &i64[b], int64_t(v), next);
          break;
        case kU32:
          ts::p<uint32_t>(sh, &u32[b], uint32_t(v), next);
          break;
      }
      ts::fence(sh);
      __nanosleep(20000);  // the receiver sees (most) intermediate values
    }
    return;
  }
  const int ci = b - t.n;
  const WaitCase& c = t.c[ci];
  const tdmCmp_t cmp = static_cast<tdmCmp_t>(c.cmp);
  switch (c.kind) {
    case kU64Set:
    case kU64Add:
      seen[ci] = ts::signal_wait_until(sh, &u64[ci], cmp, uint64_t(c.target));
      after[ci] = ts::signal_fetch(sh, &u64[ci]);
      break;
    case kI32:
      seen[ci] = static_cast<unsigned long long>(
          static_cast<long long>(ts::wait_until<int32_t>(sh, &i32[ci], cmp, int32_t(c.target))));
      after[ci] = static_cast<unsigned long long>(
          static_cast<long long>(ts::atomic_fetch<int32_t>(sh, &i32[ci], me)));
      break;
    case kI64:
      seen[ci] = static_cast<unsigned long long>(
          ts::wait_until<int64_t>(sh, &i64[ci], cmp, int64_t(c.target)));
      after[ci] = static_cast<unsigned long long>(ts::atomic_fetch<int64_t>(sh, &i64[ci], me));
      break;
    case kU32:
      seen[ci] = ts::wait_until<uint32_t>(sh, &u32[ci], cmp, uint32_t(c.target));
      after[ci] = ts::atomic_fetch<uint32_t>(sh, &u32[ci], me);
      break;
  }
}

bool host_compare(long long v, int kind, int cmp, long long target) {
  auto cmpf = [&](auto a, auto b) {
    switch (cmp) {
      case TDM_CMP_EQ:
        return a == b;
      case TDM_CMP_NE:
        return a != b;
      case TDM_CMP_GT:
        return a > b;
      case TDM_CMP_LE:
        return a <= b;
      case TDM_CMP_LT:
        return a < b;
      case TDM_CMP_GE:
        return a >= b;
    }
    return false;
  };
  switch (kind) {
    case kI32:
      return cmpf(int32_t(v), int32_t(target));
    case kI64:
      return cmpf(int64_t(v), int64_t(target));
    case kU32:
      return cmpf(uint32_t(v), uint32_t(target));
    default:
      return cmpf(uint64_t(v), uint64_t(target));
  }
}

TEST_F(Shmem, SignalAndWaitUntilAllComparisons) {
  // 2^63 - 1, 2^63 and 2^63 + 1 as the bits of uint64 words.
  constexpr long long kBelowTop = LLONG_MAX, kTop = LLONG_MIN, kAboveTop = LLONG_MIN + 1;
  const std::vector<WaitCase> cases = {
      // uint64 signal words, SET
      {kU64Set, TDM_CMP_EQ, 0, {43, 41, 42}, 42},
      {kU64Set, TDM_CMP_NE, 7, {7, 7, 8}, 7},
      {kU64Set, TDM_CMP_GT, 0, {50, 100, 101}, 100},
      {kU64Set, TDM_CMP_LE, 1000, {500, 11, 10}, 10},
      {kU64Set, TDM_CMP_LT, 1000, {10, 11, 9}, 10},
      {kU64Set, TDM_CMP_GE, 0, {76, 1, 77}, 77},
      // unsigned: 2^63 - 1 < 2^63 (a signed compare would stop early)
      {kU64Set, TDM_CMP_GT, 0, {kBelowTop, kTop, kAboveTop}, kTop},
      {kU64Set, TDM_CMP_LT, -1, {kTop, 5, 4}, 5},
      // uint64, ADD (cumulative values 1, 3, 6 and so on)
      {kU64Add, TDM_CMP_EQ, 0, {1, 2, 3}, 6},
      {kU64Add, TDM_CMP_GE, 0, {1, 2, 3}, 6},
      {kU64Add, TDM_CMP_GT, 10, {2, 3, 1}, 15},
      {kU64Add, TDM_CMP_NE, 5, {0, 0, 4}, 5},
      // int32, signed comparisons around and below zero
      {kI32, TDM_CMP_EQ, 0, {42, -41, -42}, -42},
      {kI32, TDM_CMP_NE, -1, {-1, -1, 0}, -1},
      {kI32, TDM_CMP_GT, -100, {-6, -5, -4}, -5},
      {kI32, TDM_CMP_LE, 5, {0, -1, -2}, -2},
      {kI32, TDM_CMP_LT, 0, {5, -1, -2}, -1},
      {kI32, TDM_CMP_GE, -10, {-3, -2, 7}, 7},
      {kI32, TDM_CMP_GT, INT32_MIN, {-1, 0, 1}, 0},
      // int64 and uint32
      {kI64, TDM_CMP_GT, INT64_MIN, {-5, -1, 0}, -1},
      {kI64, TDM_CMP_LT, 5, {1, 0, -1}, 0},
      {kI64, TDM_CMP_EQ, 0, {1LL << 40, -(1LL << 40), (1LL << 40) + 1}, (1LL << 40) + 1},
      {kU32, TDM_CMP_GT, 0, {0x7fffffff, 0x80000000LL, 0x80000001LL}, 0x80000000LL},
      {kU32, TDM_CMP_LE, 0xffffffffLL, {4, 0x80000000LL, 3}, 3},
  };
  WaitTable table{};
  table.n = static_cast<int>(cases.size());
  ASSERT_LE(table.n, kMaxWaitCases);
  for (int i = 0; i < table.n; ++i) {
    table.c[i] = cases[i];
    // The table itself: the initial value and every step but the last fail.
    for (int s = -1; s < 2; ++s)
      ASSERT_FALSE(
          host_compare(after_step(cases[i], s), cases[i].kind, cases[i].cmp, cases[i].target))
          << "case " << i << " step " << s;
    ASSERT_TRUE(host_compare(after_step(cases[i], 2), cases[i].kind, cases[i].cmp, cases[i].target))
        << "case " << i;
  }
  const int n = table.n;
  Sym u64(n * 8), i32(n * 4), i64(n * 8), u32(n * 4), sum(8);
  std::vector<uint64_t> h_u64(n), h_i64(n);
  std::vector<uint32_t> h_i32(n), h_u32(n);
  for (int i = 0; i < n; ++i) {
    h_u64[i] = h_i64[i] = static_cast<uint64_t>(cases[i].init);
    h_i32[i] = h_u32[i] = static_cast<uint32_t>(cases[i].init);
  }
  CUDA_EXPECT(cudaMemcpy(u64.p, h_u64.data(), n * 8, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(i64.p, h_i64.data(), n * 8, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(i32.p, h_i32.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(u32.p, h_u32.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemset(sum.p, 0, 8));
  Local seen((n + 1) * 8), after((n + 1) * 8);
  host_barrier();  // every PE's words hold their initial values
  wait_kernel<<<2 * n + 1, 32, 0, g_stream>>>(
      g_dev, table, u64.as<uint64_t>(), i32.as<int32_t>(), i64.as<int64_t>(), u32.as<uint32_t>(),
      sum.as<uint64_t>(), seen.as<unsigned long long>(), after.as<unsigned long long>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  std::vector<unsigned long long> h_seen(n + 1), h_after(n + 1);
  CUDA_EXPECT(cudaMemcpy(h_seen.data(), seen.p, (n + 1) * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h_after.data(), after.p, (n + 1) * 8, cudaMemcpyDeviceToHost));
  static const char* kCmpNames[] = {"EQ", "NE", "GT", "LE", "LT", "GE"};
  for (int i = 0; i < n; ++i) {
    const long long final_value = after_step(cases[i], 2);
    auto as_kind = [&](unsigned long long v) -> long long {
      switch (cases[i].kind) {
        case kI32:
          return int32_t(v);
        case kU32:
          return uint32_t(v);
        default:
          return static_cast<long long>(v);
      }
    };
    auto norm = [&](long long v) { return as_kind(static_cast<unsigned long long>(v)); };
    EXPECT_EQ(as_kind(h_seen[i]), norm(final_value))
        << "case " << i << " (" << kCmpNames[cases[i].cmp] << " " << cases[i].target
        << "): wait returned a value that is not the only one satisfying it";
    EXPECT_EQ(as_kind(h_after[i]), norm(final_value)) << "case " << i << ": value after the wait";
  }
  const unsigned long long total = static_cast<unsigned long long>(g_npes) * (g_npes + 1) / 2;
  EXPECT_EQ(h_seen[n], total) << "signal ADD from every PE";
  EXPECT_EQ(h_after[n], total);
}

// ============================================================================
// fence and quiet
// ============================================================================

// Thread 0: message i (put or put_nbi), then fence + p(flag = i) or quiet +
// signal_op(flag = i); the receiver waits on its flag and checks the message.
template <bool kQuiet, bool kNbi>
__global__ void fence_quiet_kernel(tdmShmemDevice_t sh, uint8_t* data, const uint8_t* msgs,
                                   size_t bytes, uint64_t* flag, uint64_t* ack, int iters,
                                   uint64_t seed, uint64_t tag0, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  for (int i = 1; i <= iters; ++i) {
    if (threadIdx.x == 0) {
      if (i > 1) ts::signal_wait_until(sh, ack, TDM_CMP_GE, uint64_t(i - 1));
      const uint8_t* msg = msgs + size_t(i - 1) * bytes;
      if constexpr (kNbi)
        ts::put_nbi<Scope::kThread>(sh, data, msg, bytes, next);
      else
        ts::put<Scope::kThread>(sh, data, msg, bytes, next);
      if constexpr (kQuiet) {
        ts::quiet(sh);
        ts::signal_op(sh, flag, uint64_t(i), TDM_SIGNAL_SET, next);
      } else {
        ts::fence(sh);
        ts::p<uint64_t>(sh, flag, uint64_t(i), next);
      }
      ts::wait_until<uint64_t>(sh, flag, TDM_CMP_EQ, uint64_t(i));
    }
    __syncthreads();
    for (size_t k = threadIdx.x; k < bytes; k += blockDim.x) {
      const uint8_t want = pattern(seed, prev, tag0 + i, k);
      if (data[k] != want) record(e, (uint64_t(i) << 32) | k, data[k], want);
    }
    __syncthreads();
    if (threadIdx.x == 0) ts::signal_op(sh, ack, 1, TDM_SIGNAL_ADD, prev);
  }
}

TEST_F(Shmem, FenceAndQuietOrderPuts) {
  const int iters = ring_iterations(400);
  constexpr size_t kBytes = 4096 + 24 + 5;
  Sym data(kBytes), words(16);
  Local msgs(size_t(iters) * kBytes);
  uint64_t* flag = words.as<uint64_t>();
  uint64_t* ack = flag + 1;
  uint64_t tag0 = 0;
  for (bool quiet : {false, true})
    for (bool nbi : {false, true}) {
      tag0 += 1u << 20;
      CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 16, g_stream));
      CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kBytes, g_stream));
      fill(msgs.p, size_t(iters) * kBytes, seed_, g_rank, tag0, kBytes);
      host_barrier();
      auto args = [&](auto kernel) {
        kernel<<<1, 128, 0, g_stream>>>(g_dev, data.as(), msgs.as(), kBytes, flag, ack, iters,
                                        seed_, tag0, g_errors);
      };
      if (quiet && nbi)
        args(fence_quiet_kernel<true, true>);
      else if (quiet)
        args(fence_quiet_kernel<true, false>);
      else if (nbi)
        args(fence_quiet_kernel<false, true>);
      else
        args(fence_quiet_kernel<false, false>);
      LAUNCHED();
      EXPECT_NO_ERRORS((nbi ? "put_nbi" : "put")
                       << (quiet ? " + quiet + signal_op" : " + fence + p(flag)") << ", " << iters
                       << " iterations (index: iteration << 32 | byte)");
      host_barrier();
    }
}

// ============================================================================
// barrier<kBlock> and barrier_grid
// ============================================================================

// Iteration it: write it to my slot (parity it & 1) on every PE, barrier,
// every slot of that parity must hold it. Parity keeps a fast PE's next
// write off the slots still being checked.
__global__ void barrier_block_kernel(tdmShmemDevice_t sh, uint64_t* slots, int iters, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes;
  for (int it = 1; it <= iters; ++it) {
    uint64_t* row = slots + (it & 1) * n;
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x) ts::p<uint64_t>(sh, &row[me], it, pe);
    ts::barrier<Scope::kBlock>(sh);
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
      if (row[pe] != uint64_t(it)) record(e, (uint64_t(it) << 32) | pe, row[pe], it);
  }
}

// The same with every block of the grid writing its own slot.
__global__ void barrier_grid_kernel(tdmShmemDevice_t sh, uint64_t* slots, int iters, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, blocks = gridDim.x;
  for (int it = 1; it <= iters; ++it) {
    uint64_t* plane = slots + size_t(it & 1) * n * blocks;
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
      ts::p<uint64_t>(sh, &plane[me * blocks + blockIdx.x], it, pe);
    ts::barrier_grid(sh);
    for (int k = threadIdx.x; k < n * blocks; k += blockDim.x)
      if (plane[k] != uint64_t(it)) record(e, (uint64_t(it) << 32) | k, plane[k], it);
  }
}

TEST_F(Shmem, BarrierBlockManyIterations) {
  const int iters = ring_iterations(2000);
  Sym slots(2 * g_npes * 8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  host_barrier();
  barrier_block_kernel<<<1, 128, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), iters, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier<kBlock> x " << iters << " (index: iteration << 32 | PE)");
}

TEST_F(Shmem, BarrierGrid) {
  const int iters = ring_iterations(500);
  const int blocks = std::min(4, g_sms);
  const size_t bytes = 2 * size_t(g_npes) * blocks * 8;
  Sym slots(bytes);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, bytes, g_stream));
  host_barrier();
  barrier_grid_kernel<<<blocks, 128, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), iters, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier_grid, " << blocks << " blocks x " << iters
                                    << " (index: iteration << 32 | PE * blocks + block)");
  // A block barrier right after still works (the grid barrier left the state clean).
  host_barrier();
  barrier_block_kernel<<<1, 64, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), 4, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier<kBlock> after barrier_grid");
}

// ============================================================================
// atomics under contention on PE 0
// ============================================================================

struct AtomicWords {
  uint64_t fadd;
  uint32_t fadd32;
  uint32_t pad;
  int64_t neg;
  uint64_t cas;
  uint64_t swap;
  int32_t cas32;
};

__global__ void atomics_kernel(tdmShmemDevice_t sh, AtomicWords* w, uint64_t* olds64,
                               uint32_t* olds32, uint64_t* swapped) {
  const size_t gid = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  const size_t per_pe = size_t(gridDim.x) * blockDim.x;
  olds64[gid] = ts::atomic_fetch_add<uint64_t>(sh, &w->fadd, 1, 0);
  olds32[gid] = ts::atomic_fetch_add<uint32_t>(sh, &w->fadd32, 1u, 0);
  ts::atomic_add<int64_t>(sh, &w->neg, -3, 0);
  // Unique nonzero ids: the swapped-out values and the final one are the
  // initial 0 and every id, each once.
  swapped[gid] = ts::atomic_swap<uint64_t>(sh, &w->swap, sh.my_pe * per_pe + gid + 1, 0);
}

// A counter from compare_swap alone: the value each thread moved from.
__global__ void cas_kernel(tdmShmemDevice_t sh, AtomicWords* w, uint64_t* olds, int32_t* olds32) {
  const size_t gid = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  uint64_t v = ts::atomic_fetch<uint64_t>(sh, &w->cas, 0);
  for (;;) {
    const uint64_t old = ts::atomic_compare_swap<uint64_t>(sh, &w->cas, v, v + 1, 0);
    if (old == v) break;
    v = old;
  }
  olds[gid] = v;
  // 32-bit signed, counting down from 0.
  int32_t c = ts::atomic_fetch<int32_t>(sh, &w->cas32, 0);
  for (;;) {
    const int32_t old = ts::atomic_compare_swap<int32_t>(sh, &w->cas32, c, c - 1, 0);
    if (old == c) break;
    c = old;
  }
  olds32[gid] = c;
}

__global__ void read_words_kernel(tdmShmemDevice_t sh, AtomicWords* w, unsigned long long* out) {
  out[0] = ts::atomic_fetch<uint64_t>(sh, &w->fadd, 0);
  out[1] = ts::atomic_fetch<uint32_t>(sh, &w->fadd32, 0);
  out[2] = static_cast<unsigned long long>(ts::atomic_fetch<int64_t>(sh, &w->neg, 0));
  out[3] = ts::atomic_fetch<uint64_t>(sh, &w->cas, 0);
  out[4] = ts::atomic_fetch<uint64_t>(sh, &w->swap, 0);
  out[5] = static_cast<unsigned long long>(
      static_cast<long long>(ts::atomic_fetch<int32_t>(sh, &w->cas32, 0)));
}

// `values` (every PE's) must be exactly first, first + 1, ... (any order).
template <typename T>
void expect_permutation(std::vector<T> values, long long first, long long step, const char* what) {
  std::sort(values.begin(), values.end(), [&](T a, T b) { return step > 0 ? a < b : a > b; });
  size_t bad = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (static_cast<long long>(values[i]) != first + step * static_cast<long long>(i)) {
      if (bad++ == 0)
        ADD_FAILURE() << what << ": sorted value " << i << " is " << +values[i] << ", want "
                      << first + step * static_cast<long long>(i)
                      << " (returned old values are not all distinct and complete)";
    }
  EXPECT_EQ(bad, 0u) << what;
}

TEST_F(Shmem, AtomicsUnderContention) {
  constexpr int kBlocks = 8, kThreads = 256, kCasBlocks = 4, kCasThreads = 64;
  const size_t per_pe = kBlocks * kThreads, cas_per_pe = kCasBlocks * kCasThreads;
  const size_t total = per_pe * g_npes, cas_total = cas_per_pe * g_npes;
  Sym words(sizeof(AtomicWords));
  auto* w = words.as<AtomicWords>();
  Local olds64(per_pe * 8), olds32(per_pe * 4), swapped(per_pe * 8), cas_olds(cas_per_pe * 8),
      cas_olds32(cas_per_pe * 4), final_words(8 * 8);
  CUDA_EXPECT(cudaMemsetAsync(words.p, 0, sizeof(AtomicWords), g_stream));
  host_barrier();
  atomics_kernel<<<kBlocks, kThreads, 0, g_stream>>>(g_dev, w, olds64.as<uint64_t>(),
                                                     olds32.as<uint32_t>(), swapped.as<uint64_t>());
  LAUNCHED();
  cas_kernel<<<kCasBlocks, kCasThreads, 0, g_stream>>>(g_dev, w, cas_olds.as<uint64_t>(),
                                                       cas_olds32.as<int32_t>());
  LAUNCHED();
  host_barrier();  // every PE's atomics are done
  read_words_kernel<<<1, 1, 0, g_stream>>>(g_dev, w, final_words.as<unsigned long long>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));

  std::vector<uint64_t> h64(per_pe), hswap(per_pe), hcas(cas_per_pe);
  std::vector<uint32_t> h32(per_pe);
  std::vector<int32_t> hcas32(cas_per_pe);
  unsigned long long fin[8] = {};
  CUDA_EXPECT(cudaMemcpy(h64.data(), olds64.p, per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h32.data(), olds32.p, per_pe * 4, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hswap.data(), swapped.p, per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hcas.data(), cas_olds.p, cas_per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hcas32.data(), cas_olds32.p, cas_per_pe * 4, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(fin, final_words.p, 6 * 8, cudaMemcpyDeviceToHost));

  EXPECT_EQ(fin[0], total) << "fetch_add<uint64> final value on PE 0";
  EXPECT_EQ(fin[1], total) << "fetch_add<uint32> final value on PE 0";
  EXPECT_EQ(static_cast<long long>(fin[2]), -3LL * static_cast<long long>(total))
      << "atomic_add<int64>(-3)";
  EXPECT_EQ(fin[3], cas_total) << "compare_swap counter";
  EXPECT_EQ(static_cast<long long>(fin[5]), -static_cast<long long>(cas_total))
      << "compare_swap<int32> counter";
  expect_permutation(all_gather(h64, tdmUint64), 0, 1, "fetch_add<uint64> old values");
  expect_permutation(all_gather(h32, tdmUint32), 0, 1, "fetch_add<uint32> old values");
  expect_permutation(all_gather(hcas, tdmUint64), 0, 1, "compare_swap<uint64> old values");
  expect_permutation(all_gather(hcas32, tdmInt32), 0, -1, "compare_swap<int32> old values");
  auto swaps = all_gather(hswap, tdmUint64);
  swaps.push_back(fin[4]);
  expect_permutation(swaps, 0, 1, "swap: old values and final value");
}

// ============================================================================
// stream-ordered helpers
// ============================================================================

__global__ void write_slots_kernel(tdmShmemDevice_t sh, uint64_t* slots, uint64_t it) {
  const int me = sh.my_pe, n = sh.n_pes;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
    ts::p<uint64_t>(sh, &slots[(it & 1) * n + me], it, pe);
}
__global__ void check_slots_kernel(const uint64_t* slots, int n, uint64_t it, Errors* e) {
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x) {
    const uint64_t v = slots[(it & 1) * n + pe];
    if (v != it) record(e, (it << 32) | pe, v, it);
  }
}

TEST_F(Shmem, BarrierOnStream) {
  const int iters = ring_iterations(200);
  Sym slots(2 * g_npes * 8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  host_barrier();
  for (int it = 1; it <= iters; ++it) {
    write_slots_kernel<<<1, 32, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), it);
    TDM_EXPECT(tdmShmemBarrierOnStream(g_comm, g_stream));
    check_slots_kernel<<<1, 32, 0, g_stream>>>(slots.as<uint64_t>(), g_npes, it, g_errors);
  }
  LAUNCHED();
  EXPECT_NO_ERRORS("tdmShmemBarrierOnStream x " << iters << " (index: iteration << 32 | PE)");
}

__global__ void put_block_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src,
                                 size_t bytes, int pe) {
  ts::put<Scope::kBlock>(sh, dst, src, bytes, pe);
}

// Around the ring with stream operations only: [wait ack] put kernel, signal
// the next PE, wait for my signal, check kernel, acknowledge to the previous.
TEST_F(Shmem, SignalAndWaitOnStream) {
  const int iters = ring_iterations(100);
  constexpr size_t kBytes = 100000 + 3;
  Sym data(kBytes), words(16);
  Local msgs(size_t(iters) * kBytes);
  uint64_t* sig = words.as<uint64_t>();
  uint64_t* ack = sig + 1;
  for (int round = 0; round < 2; ++round) {
    // Round 0: SET i, wait EQ i; round 1: ADD 1, wait GE i; acks: GE / GT.
    const uint64_t tag0 = uint64_t(round + 1) << 20;
    CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 16, g_stream));
    CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kBytes, g_stream));
    fill(msgs.p, size_t(iters) * kBytes, seed_, g_rank, tag0, kBytes);
    host_barrier();
    for (int i = 1; i <= iters; ++i) {
      if (i > 1) {
        if (round == 0)
          TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, ack, TDM_CMP_GE, i - 1, g_stream));
        else
          TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, ack, TDM_CMP_GT, i - 2, g_stream));
      }
      put_block_kernel<<<1, 256, 0, g_stream>>>(
          g_dev, data.as(), msgs.as() + size_t(i - 1) * kBytes, kBytes, next_pe());
      if (round == 0) {
        TDM_EXPECT(tdmShmemSignalOnStream(g_comm, sig, i, TDM_SIGNAL_SET, next_pe(), g_stream));
        TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, sig, TDM_CMP_EQ, i, g_stream));
      } else {
        TDM_EXPECT(tdmShmemSignalOnStream(g_comm, sig, 1, TDM_SIGNAL_ADD, next_pe(), g_stream));
        TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, sig, TDM_CMP_GE, i, g_stream));
      }
      check(data.p, kBytes, 0, kBytes, seed_, prev_pe(), tag0 + i, 0);
      TDM_EXPECT(tdmShmemSignalOnStream(g_comm, ack, 1, TDM_SIGNAL_ADD, prev_pe(), g_stream));
    }
    LAUNCHED();
    EXPECT_NO_ERRORS("signal/wait on stream, round " << round << ", " << iters << " iterations");
    host_barrier();
  }
}

// The iteration number lives on the device so one captured graph serves every launch.
__global__ void graph_write_kernel(tdmShmemDevice_t sh, uint64_t* slots, uint64_t* counter) {
  __shared__ uint64_t it;
  if (threadIdx.x == 0) it = ++*counter;
  __syncthreads();
  const int me = sh.my_pe, n = sh.n_pes;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
    ts::p<uint64_t>(sh, &slots[(it & 1) * n + me], it, pe);
}
__global__ void graph_check_kernel(const uint64_t* slots, int n, const uint64_t* counter,
                                   Errors* e) {
  const uint64_t it = *counter;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x) {
    const uint64_t v = slots[(it & 1) * n + pe];
    if (v != it) record(e, (it << 32) | pe, v, it);
  }
}

TEST_F(Shmem, StreamHelpersInACudaGraph) {
  const int launches = ring_iterations(50);
  Sym slots(2 * g_npes * 8);
  Local counter(8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  CUDA_EXPECT(cudaMemsetAsync(counter.p, 0, 8, g_stream));
  host_barrier();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_EXPECT(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeGlobal));
  graph_write_kernel<<<1, 32, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), counter.as<uint64_t>());
  const tdmResult_t captured = tdmShmemBarrierOnStream(g_comm, g_stream);
  graph_check_kernel<<<1, 32, 0, g_stream>>>(slots.as<uint64_t>(), g_npes, counter.as<uint64_t>(),
                                             g_errors);
  CUDA_EXPECT(cudaStreamEndCapture(g_stream, &graph));
  EXPECT_EQ(captured, tdmSuccess) << "tdmShmemBarrierOnStream under stream capture: "
                                  << tdmGetLastError(g_comm);
  // Every PE launches the same number of times (or none), so nobody waits forever.
  const bool ready = all_ok(captured == tdmSuccess && graph != nullptr);
  if (ready) {
    CUDA_EXPECT(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < launches; ++i) CUDA_EXPECT(cudaGraphLaunch(exec, g_stream));
    EXPECT_NO_ERRORS("graph of write + tdmShmemBarrierOnStream + check, " << launches
                                                                          << " launches");
    uint64_t count = 0;
    CUDA_EXPECT(cudaMemcpy(&count, counter.p, 8, cudaMemcpyDeviceToHost));
    EXPECT_EQ(count, uint64_t(launches));
  }
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
}

// ============================================================================
// windows of user buffers
// ============================================================================

// Chunk me of every PE's buffer gets pattern(seed, me, tag + pe, k).
__global__ void window_write_kernel(tdmWindowDevice_t win, size_t chunk, uint64_t seed,
                                    uint64_t tag) {
  const int me = win.my_pe;
  for (int pe = 0; pe < win.n_pes; ++pe)
    for (size_t k = blockIdx.x * size_t(blockDim.x) + threadIdx.x; k < chunk;
         k += size_t(gridDim.x) * blockDim.x)
      *tw::ptr<uint8_t>(win, pe, me * chunk + k) = pattern(seed, me, tag + pe, k);
}
// `buf` is PE `owner`'s buffer: chunk r from PE r, the rest poison.
__global__ void window_check_kernel(const uint8_t* buf, size_t size, size_t chunk, int n, int owner,
                                    uint64_t seed, uint64_t tag, Errors* e) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < size;
       i += size_t(gridDim.x) * blockDim.x) {
    const size_t r = i / chunk;
    const uint8_t want = r < size_t(n) ? pattern(seed, int(r), tag + owner, i % chunk) : kPoison;
    if (buf[i] != want) record(e, i, buf[i], want);
  }
}
__global__ void window_ptr_kernel(tdmWindowDevice_t win, const size_t* offsets, int n_offsets,
                                  void** out) {
  for (int pe = -1; pe <= win.n_pes; ++pe)
    for (int o = 0; o < n_offsets; ++o)
      out[(pe + 1) * n_offsets + o] = tw::ptr<void>(win, pe, offsets[o]);
}

void run_window(bool from_tdm_alloc, uint64_t seed, uint64_t tag) {
  const char* what = from_tdm_alloc ? "tdmMemAlloc buffer" : "cudaMalloc buffer";
  constexpr size_t kSize = (1 << 20) + 4096;
  const size_t chunk = (kSize / g_npes) & ~size_t(15);
  void* buf = nullptr;
  if (from_tdm_alloc)
    TDM_EXPECT(tdmMemAlloc(&buf, kSize));
  else
    CUDA_EXPECT(cudaMalloc(&buf, kSize));
  CUDA_EXPECT(cudaMemsetAsync(buf, kPoison, kSize, g_stream));
  host_barrier();
  tdmWindow_t win = nullptr;
  TDM_EXPECT(tdmCommWindowRegister(g_comm, buf, kSize, &win, TDM_WIN_DEFAULT));
  tdmWindowDevice_t dev{};
  TDM_EXPECT(tdmWindowGetDevice(win, &dev));
  EXPECT_EQ(dev.my_pe, g_rank) << what;
  EXPECT_EQ(dev.n_pes, g_npes) << what;
  EXPECT_EQ(dev.size, kSize) << what;

  // Device and host peer pointers agree; out-of-range pe and offset give null.
  const std::vector<size_t> offsets = {0, 4096, 12345, kSize - 1, kSize};
  const int no = static_cast<int>(offsets.size());
  Local d_offsets(no * sizeof(size_t)), d_ptrs((g_npes + 2) * no * sizeof(void*));
  CUDA_EXPECT(cudaMemcpyAsync(d_offsets.p, offsets.data(), no * sizeof(size_t),
                              cudaMemcpyHostToDevice, g_stream));
  window_ptr_kernel<<<1, 1, 0, g_stream>>>(dev, d_offsets.as<size_t>(), no, d_ptrs.as<void*>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  std::vector<void*> ptrs((g_npes + 2) * no);
  CUDA_EXPECT(
      cudaMemcpy(ptrs.data(), d_ptrs.p, ptrs.size() * sizeof(void*), cudaMemcpyDeviceToHost));
  for (int o = 0; o < no; ++o) {
    EXPECT_EQ(ptrs[o], nullptr) << what << ": pe -1";
    EXPECT_EQ(ptrs[(g_npes + 1) * no + o], nullptr) << what << ": pe n_pes";
  }
  for (int pe = 0; pe < g_npes; ++pe)
    for (int o = 0; o < no; ++o) {
      if (offsets[o] >= kSize) {
        EXPECT_EQ(ptrs[(pe + 1) * no + o], nullptr) << what << ": offset past the end";
        continue;
      }
      void* host = nullptr;
      TDM_EXPECT(tdmWindowPeerPointer(win, pe, offsets[o], &host));
      EXPECT_NE(host, nullptr) << what << ": PE " << pe << " (same host) not reachable";
      EXPECT_EQ(ptrs[(pe + 1) * no + o], host)
          << what << ": device and host peer pointers disagree, PE " << pe << " offset "
          << offsets[o];
      if (pe == g_rank) EXPECT_EQ(host, static_cast<char*>(buf) + offsets[o]) << what;
    }

  // Every PE writes its chunk of every PE's buffer through window::ptr.
  window_write_kernel<<<64, 256, 0, g_stream>>>(dev, chunk, seed, tag);
  LAUNCHED();
  host_barrier();
  window_check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
      static_cast<const uint8_t*>(buf), kSize, chunk, g_npes, g_rank, seed, tag, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS(what << ": my buffer after every PE wrote its chunk");
  // The next PE's whole buffer, read through the host's peer pointer.
  void* next_buf = nullptr;
  TDM_EXPECT(tdmWindowPeerPointer(win, next_pe(), 0, &next_buf));
  if (next_buf) {
    window_check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
        static_cast<const uint8_t*>(next_buf), kSize, chunk, g_npes, next_pe(), seed, tag,
        g_errors);
    LAUNCHED();
    EXPECT_NO_ERRORS(what << ": the next PE's buffer through tdmWindowPeerPointer");
  }
  host_barrier();  // nobody still reads a peer's buffer
  TDM_EXPECT(tdmCommWindowDeregister(g_comm, win));
  if (from_tdm_alloc)
    TDM_EXPECT(tdmMemFree(buf));
  else
    CUDA_EXPECT(cudaFree(buf));
}

TEST_F(Shmem, WindowOfCudaMallocBuffer) { run_window(false, seed_, 100); }
TEST_F(Shmem, WindowOfTdmMemAllocBuffer) { run_window(true, seed_, 200); }

// ============================================================================
// errors
// ============================================================================

TEST_F(Shmem, ErrorsAreInvalidArgument) {
  void* device = nullptr;
  CUDA_EXPECT(cudaMalloc(&device, 4096));
  EXPECT_EQ(tdmShmemFree(g_comm, device), tdmInvalidArgument) << "cudaMalloc pointer";
  std::vector<char> host(64);
  EXPECT_EQ(tdmShmemFree(g_comm, host.data()), tdmInvalidArgument) << "host pointer";
  cudaFree(device);

  void* obj = nullptr;
  TDM_EXPECT(tdmShmemMalloc(g_comm, 4096, &obj));
  EXPECT_EQ(tdmShmemFree(g_comm, static_cast<char*>(obj) + 256), tdmInvalidArgument)
      << "pointer inside an allocation";
  void* out = reinterpret_cast<void*>(1);
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, -1, &out), tdmInvalidArgument) << "pe -1";
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, g_npes, &out), tdmInvalidArgument) << "pe n_pes";
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, INT_MAX, &out), tdmInvalidArgument) << "pe INT_MAX";
  TDM_EXPECT(tdmShmemPtr(g_comm, obj, g_rank, &out));
  EXPECT_EQ(out, obj) << "tdmShmemPtr(my pe)";
  TDM_EXPECT(tdmShmemFree(g_comm, obj));
  EXPECT_EQ(tdmShmemFree(g_comm, obj), tdmInvalidArgument) << "double free";
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  tdm::test::GpuWorld world;
  if (!tdm::test::init_gpu_world("shmem_device_test", &world)) return 1;
  g_comm = world.comm;
  g_rank = world.rank;
  g_npes = world.size;
  const int device = world.device;
  int rc = 1;
  const tdmResult_t got = tdmShmemGetDevice(g_comm, &g_dev);
  if (got != tdmSuccess) {
    std::fprintf(stderr, "PE %d: tdmShmemGetDevice failed: %s\n", g_rank, tdmGetLastError(g_comm));
  }
  // Every PE continues only if every PE has a handle (else all stop, none hangs).
  if (all_ok(got == tdmSuccess) &&
      cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) == cudaSuccess &&
      cudaMalloc(&g_errors, sizeof(Errors)) == cudaSuccess) {
    cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, device);
    // Do two PEs share a GPU (same host and PCI bus id)?
    char host[256] = {}, bus[64] = {};
    gethostname(host, sizeof(host) - 1);
    cudaDeviceGetPCIBusId(bus, sizeof(bus), device);
    uint64_t key = 1469598103934665603ULL;
    for (const char* s : {static_cast<const char*>(host), static_cast<const char*>(bus)})
      for (; *s; ++s) key = (key ^ static_cast<unsigned char>(*s)) * 1099511628211ULL;
    std::vector<uint64_t> keys(g_npes);
    tdmAllGather(&key, keys.data(), 1, tdmUint64, g_comm, nullptr);
    std::sort(keys.begin(), keys.end());
    g_shared_gpu = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device);
    std::printf("PE %d of %d on %s GPU %d (%s, %s)%s, heap %zu MiB, %s\n", g_rank, g_npes, host,
                device, prop.name, bus, g_shared_gpu ? ", GPUs shared by PEs" : "",
                g_dev.heap_size >> 20, g_dev.peer_stride ? "contiguous peer heaps" : "peer table");
    rc = RUN_ALL_TESTS();
  }
  if (g_errors) cudaFree(g_errors);
  if (g_stream) cudaStreamDestroy(g_stream);
  tdmCommDestroy(g_comm);
  return rc;
}
