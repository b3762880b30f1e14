// shmem_perf's kernels: the SHMEM device API's bandwidth, latency and
// ping-pong loops at each scope, and the fill / check kernels of the transfer
// patterns. Included by shmem_perf.cu only.
#ifndef TANDEM_TOOLS_PERF_SHMEM_KERNELS_CUH_
#define TANDEM_TOOLS_PERF_SHMEM_KERNELS_CUH_

#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "shmem_options.h"
#include "tandem/device/shmem.cuh"
#include "tandem/shmem.h"
#include "tests/common/seeded_data.h"

namespace shmem_perf {

namespace ts = tandem::shmem;
using ts::Scope;

constexpr uint8_t kPoison = 0xA5;  // destination bytes before a transfer (then kGuard more)

// Keeps the compiler from merging or hoisting the identical copies of
// consecutive iterations (the data calls are plain loads and stores).
__device__ __forceinline__ void compiler_fence() { asm volatile("" ::: "memory"); }

template <Scope S>
__device__ __forceinline__ void group_sync() {
  if constexpr (S == Scope::kWarp) __syncwarp();
  if constexpr (S == Scope::kBlock) __syncthreads();
}

struct Group {
  size_t index, count;
};
// This thread's group along the 1-D grid (blockDim.x a multiple of 32).
template <Scope S>
__device__ __forceinline__ Group grid_group() {
  const size_t thread = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t threads = size_t(gridDim.x) * blockDim.x;
  if constexpr (S == Scope::kThread) return {thread, threads};
  if constexpr (S == Scope::kWarp) return {thread / 32, threads / 32};
  return {blockIdx.x, gridDim.x};
}

using tdm::test::mix64;  // one splitmix64 step
// The expected contents: byte i is byte i % 8 of word i / 8 (little endian),
// different for every tag so that data of an earlier transfer cannot pass.
__device__ __forceinline__ uint64_t pattern_word(uint64_t tag, size_t word) {
  return mix64(tag ^ mix64(word));
}
__device__ __forceinline__ uint8_t pattern_byte(uint64_t tag, size_t i) {
  return static_cast<uint8_t>(pattern_word(tag, i / 8) >> (8 * (i % 8)));
}
// Every region has its own pattern, so data that lands in the wrong region
// fails the check too (the host's tags stay far below 2^32).
__device__ __forceinline__ uint64_t region_tag(uint64_t tag, size_t region) {
  return tag + (uint64_t(region) << 32);
}

// The buffers hold `regions` regions of `bytes`, `stride` (a multiple of
// kAlign) apart. The helpers walk (region, unit) pairs: a unit is a whole
// word of a region, its last partial word (as bytes), or for the check one
// guard byte. Heap buffers are 256-byte aligned, so the words are 8-byte aligned.
__global__ void fill_kernel(char* buf, size_t bytes, size_t stride, size_t regions, uint64_t tag) {
  const size_t first = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t step = size_t(gridDim.x) * blockDim.x;
  const size_t words = bytes / 8, units = (bytes + 7) / 8;
  for (size_t j = first; j < regions * units; j += step) {
    const size_t r = j / units, k = j % units;
    char* region = buf + r * stride;
    const uint64_t t = region_tag(tag, r);
    if (k < words) {
      reinterpret_cast<uint64_t*>(region)[k] = pattern_word(t, k);
    } else {
      for (size_t i = words * 8; i < bytes; ++i) region[i] = pattern_byte(t, i);
    }
  }
}

// Counts wrong bytes (whole words count once) of every region and changed
// guard bytes after each.
__global__ void check_kernel(const char* buf, size_t bytes, size_t stride, size_t regions,
                             uint64_t tag, unsigned long long* errors) {
  const size_t first = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t step = size_t(gridDim.x) * blockDim.x;
  const size_t words = bytes / 8, units = (bytes + 7) / 8 + kGuard;
  unsigned long long bad = 0;
  for (size_t j = first; j < regions * units; j += step) {
    const size_t r = j / units, k = j % units;
    const char* region = buf + r * stride;
    const auto* u = reinterpret_cast<const uint8_t*>(region);
    const uint64_t t = region_tag(tag, r);
    if (k < words) {
      bad += reinterpret_cast<const uint64_t*>(region)[k] != pattern_word(t, k);
    } else if (k < units - kGuard) {
      for (size_t i = words * 8; i < bytes; ++i) bad += u[i] != pattern_byte(t, i);
    } else {
      bad += u[bytes + (k - (units - kGuard))] != kPoison;
    }
  }
  if (bad) atomicAdd(errors, bad);
}

// Bandwidth: every group of the grid moves its own chunk of [0, bytes) of a
// region between `src` and `dest` (same offsets), `iters` times; iteration i
// uses region (first + i) % regions, `stride` bytes apart, so no iteration
// rereads what an earlier one may have left in a cache. Put: dest on `peer`;
// get: src on `peer`. The final quiet (every thread completes its own part)
// puts the completion of the data inside the timed kernel for both forms.
template <Scope S, bool kGet, bool kNbi>
__global__ void bandwidth_kernel(tdmShmemDevice_t sh, char* dest, const char* src, size_t bytes,
                                 size_t chunk, size_t stride, size_t regions, size_t first,
                                 int iters, int peer) {
  const Group g = grid_group<S>();
  const size_t begin = g.index * chunk < bytes ? g.index * chunk : bytes;
  const size_t len = bytes - begin < chunk ? bytes - begin : chunk;
  size_t region = first;  // < regions
  for (int i = 0; i < iters; ++i) {
    const size_t at = region * stride + begin;
    if constexpr (kGet && kNbi) ts::get_nbi<S>(sh, dest + at, src + at, len, peer);
    if constexpr (kGet && !kNbi) ts::get<S>(sh, dest + at, src + at, len, peer);
    if constexpr (!kGet && kNbi) ts::put_nbi<S>(sh, dest + at, src + at, len, peer);
    if constexpr (!kGet && !kNbi) ts::put<S>(sh, dest + at, src + at, len, peer);
    if (++region == regions) region = 0;
    compiler_fence();
  }
  ts::quiet(sh);
}

// Latency: one group (the whole launch) waits for each transfer before the
// next. Put: put, then every thread quiets its own stores (the next put's
// entry sync waits for all of them). Get: blocking, the data is in `dest` on
// return; a load's value is needed by its store, so each get waits for its
// data even at thread scope.
template <Scope S, bool kGet>
__global__ void latency_kernel(tdmShmemDevice_t sh, char* dest, const char* src, size_t bytes,
                               int iters, int peer) {
  for (int i = 0; i < iters; ++i) {
    if constexpr (kGet) {
      ts::get<S>(sh, dest, src, bytes, peer);
    } else {
      ts::put<S>(sh, dest, src, bytes, peer);
      ts::quiet(sh);
    }
    compiler_fence();
  }
}

// Ping-pong: the initiator sends round r's data and signal value base + r,
// the echo waits for that value and answers with the same. Values only grow
// (the host advances `base` identically on both PEs), so no reset is needed.
template <Scope S>
__global__ void pingpong_kernel(tdmShmemDevice_t sh, char* dest, const char* src, size_t bytes,
                                uint64_t* sig, uint64_t base, int iters, int peer, bool initiator) {
  auto wait = [&](uint64_t value) {
    if (threadIdx.x == 0) ts::signal_wait_until(sh, sig, TDM_CMP_GE, value);
    group_sync<S>();  // the group's later reads see what the signal released
  };
  for (int r = 1; r <= iters; ++r) {
    const uint64_t value = base + static_cast<uint64_t>(r);
    if (!initiator) wait(value);
    ts::put_signal<S>(sh, dest, src, bytes, sig, value, TDM_SIGNAL_SET, peer);
    if (initiator) wait(value);
  }
}

using BandwidthKernel = void (*)(tdmShmemDevice_t, char*, const char*, size_t, size_t, size_t,
                                 size_t, size_t, int, int);
using LatencyKernel = void (*)(tdmShmemDevice_t, char*, const char*, size_t, int, int);
using PingPongKernel = void (*)(tdmShmemDevice_t, char*, const char*, size_t, uint64_t*, uint64_t,
                                int, int, bool);

constexpr std::array kScopes{Scope::kThread, Scope::kWarp, Scope::kBlock};

struct Variant {
  const char* name;
  Scope scope;
  bool nbi;
};
constexpr std::array kVariants{
    Variant{"thread", Scope::kThread, false}, Variant{"thread_nbi", Scope::kThread, true},
    Variant{"warp", Scope::kWarp, false},     Variant{"warp_nbi", Scope::kWarp, true},
    Variant{"block", Scope::kBlock, false},   Variant{"block_nbi", Scope::kBlock, true}};

template <bool kGet>
BandwidthKernel bandwidth_kernel_for(const Variant& v) {
  switch (v.scope) {
    case Scope::kThread:
      return v.nbi ? bandwidth_kernel<Scope::kThread, kGet, true>
                   : bandwidth_kernel<Scope::kThread, kGet, false>;
    case Scope::kWarp:
      return v.nbi ? bandwidth_kernel<Scope::kWarp, kGet, true>
                   : bandwidth_kernel<Scope::kWarp, kGet, false>;
    case Scope::kBlock:
      break;
  }
  return v.nbi ? bandwidth_kernel<Scope::kBlock, kGet, true>
               : bandwidth_kernel<Scope::kBlock, kGet, false>;
}

template <bool kGet>
LatencyKernel latency_kernel_for(Scope s) {
  if (s == Scope::kThread) return latency_kernel<Scope::kThread, kGet>;
  if (s == Scope::kWarp) return latency_kernel<Scope::kWarp, kGet>;
  return latency_kernel<Scope::kBlock, kGet>;
}

PingPongKernel pingpong_kernel_for(Scope s) {
  if (s == Scope::kThread) return pingpong_kernel<Scope::kThread>;
  if (s == Scope::kWarp) return pingpong_kernel<Scope::kWarp>;
  return pingpong_kernel<Scope::kBlock>;
}

}  // namespace shmem_perf

#endif  // TANDEM_TOOLS_PERF_SHMEM_KERNELS_CUH_
