// Tandem SHMEM, device side: what custom CUDA kernels call on the symmetric
// heap. Header-only; take a tdmShmemDevice_t (from tdmShmemGetDevice) by value
// as a kernel parameter and pass it to these functions.
//
// Reach: these calls move data by loads and stores, so `pe` must be load/store
// reachable (same host; see shmem::ptr, which is nullptr otherwise).
//
// Scopes: every data call comes at thread, warp or block scope
// (Scope::kThread / kWarp / kBlock). Warp and block calls are collective over
// the calling warp or block: all of its threads call with the same arguments,
// they split the work, and they synchronize the group on entry and exit. Warp
// scope needs a full, converged warp of 32 threads (blockDim.x a multiple of
// 32); a partial warp is undefined behaviour, as with __syncwarp.
//
// Ordering guarantees (system scope, so across GPUs and processes):
// - put / put_nbi: stores to the peer; `src` may be reused on return. They are
//   not ordered with later puts nor complete until fence / quiet. The blocking
//   and nbi forms differ only in the group synchronization on exit (blocking
//   warp/block forms end with __syncwarp/__syncthreads; nbi forms do not).
// - get / get_nbi: loads from the peer; on return of get (for the whole group
//   at warp/block scope) `dest` holds the data. get_nbi's data is complete at
//   the next quiet.
// - put_signal: data first, then the signal update with release semantics:
//   a PE that observes the signal (signal_wait_until, acquire) sees the data.
// - signal_op: release update of a 64-bit signal word on `pe`.
// - signal_wait_until / wait_until: acquire loads until the comparison holds;
//   later reads see everything the writer did before its release.
// - fence: orders this thread's earlier puts/atomics before its later ones,
//   per destination PE (implemented as a system-scope fence).
// - quiet: completes this thread's earlier puts, gets and atomics (system
//   scope); other PEs see them once they synchronize with us.
// - barrier<kBlock>: all PEs, one block each, at once: quiet, then no PE leaves
//   before every PE arrived. barrier_grid: every block of the grid on every
//   PE; the grid must be co-resident (cooperative launch or blocks <= SMs).
//   One barrier of either kind at a time per PE.
// - atomics: relaxed read-modify-write at system scope on `pe`'s word;
//   fetch forms return the old value.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tandem/device/memory_order.cuh"
#include "tandem/shmem.h"

namespace tandem::shmem {

enum class Scope { kThread, kWarp, kBlock };

__device__ __forceinline__ int my_pe(const tdmShmemDevice_t& sh) { return sh.my_pe; }
__device__ __forceinline__ int n_pes(const tdmShmemDevice_t& sh) { return sh.n_pes; }

// Address of the symmetric object `local` on PE `pe`, usable by loads and
// stores here; nullptr when `pe` is out of range or not reachable.
template <typename T>
__device__ __forceinline__ T* ptr(const tdmShmemDevice_t& sh, T* local, int pe) {
  if (pe < 0 || pe >= sh.n_pes) return nullptr;
  const ptrdiff_t offset = reinterpret_cast<const char*>(local) - sh.heap;
  if (sh.peer_stride != 0)
    return reinterpret_cast<T*>(sh.heap + offset + (pe - sh.my_pe) * sh.peer_stride);
  const uintptr_t base = sh.peer_heaps[pe];
  return base ? reinterpret_cast<T*>(base + offset) : nullptr;
}

namespace detail {

// The hardware lane: warps are formed from the linear thread index, so
// threadIdx.x & 31 would be wrong for blocks whose x extent is not a multiple of 32.
__device__ __forceinline__ int lane_id() {
  unsigned lane;
  asm volatile("mov.u32 %0, %%laneid;" : "=r"(lane));
  return static_cast<int>(lane);
}
template <Scope S>
__device__ __forceinline__ int group_rank() {
  if constexpr (S == Scope::kThread) return 0;
  if constexpr (S == Scope::kWarp) return lane_id();
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
template <Scope S>
__device__ __forceinline__ int group_size() {
  if constexpr (S == Scope::kThread) return 1;
  if constexpr (S == Scope::kWarp) return 32;
  return blockDim.x * blockDim.y * blockDim.z;
}
template <Scope S>
__device__ __forceinline__ void group_sync() {
  if constexpr (S == Scope::kWarp) __syncwarp();
  if constexpr (S == Scope::kBlock) __syncthreads();
}

// Copy split over the group: 16-byte accesses when both sides allow them.
template <Scope S>
__device__ __forceinline__ void group_copy(void* dest, const void* src, size_t bytes) {
  const int rank = group_rank<S>(), size = group_size<S>();
  auto* d = static_cast<char*>(dest);
  const auto* s = static_cast<const char*>(src);
  size_t done = 0;
  if (((reinterpret_cast<uintptr_t>(d) | reinterpret_cast<uintptr_t>(s)) & 15) == 0) {
    const size_t vectors = bytes / 16;
    auto* dv = reinterpret_cast<int4*>(d);
    const auto* sv = reinterpret_cast<const int4*>(s);
    for (size_t i = rank; i < vectors; i += size) dv[i] = sv[i];
    done = vectors * 16;
  } else if (((reinterpret_cast<uintptr_t>(d) | reinterpret_cast<uintptr_t>(s)) & 3) == 0) {
    const size_t words = bytes / 4;
    auto* dw = reinterpret_cast<uint32_t*>(d);
    const auto* sw = reinterpret_cast<const uint32_t*>(s);
    for (size_t i = rank; i < words; i += size) dw[i] = sw[i];
    done = words * 4;
  }
  for (size_t i = done + rank; i < bytes; i += size) d[i] = s[i];
}

__device__ __forceinline__ void signal_update(uint64_t* remote, uint64_t value, tdmSignalOp_t op) {
  if (op == TDM_SIGNAL_ADD)
    tandem::detail::atom_add_release_sys(remote, value);
  else
    tandem::detail::st_release_sys(remote, value);
}

}  // namespace detail

// ---- put / get ----

template <Scope S = Scope::kThread>
__device__ __forceinline__ void put_nbi(const tdmShmemDevice_t& sh, void* dest, const void* src,
                                        size_t bytes, int pe) {
  detail::group_sync<S>();
  detail::group_copy<S>(ptr(sh, dest, pe), src, bytes);
}
template <Scope S = Scope::kThread>
__device__ __forceinline__ void put(const tdmShmemDevice_t& sh, void* dest, const void* src,
                                    size_t bytes, int pe) {
  put_nbi<S>(sh, dest, src, bytes, pe);
  detail::group_sync<S>();
}
template <Scope S = Scope::kThread>
__device__ __forceinline__ void get_nbi(const tdmShmemDevice_t& sh, void* dest, const void* src,
                                        size_t bytes, int pe) {
  detail::group_sync<S>();
  detail::group_copy<S>(dest, ptr(sh, src, pe), bytes);
}
template <Scope S = Scope::kThread>
__device__ __forceinline__ void get(const tdmShmemDevice_t& sh, void* dest, const void* src,
                                    size_t bytes, int pe) {
  get_nbi<S>(sh, dest, src, bytes, pe);
  detail::group_sync<S>();
}

// Single elements (nvshmem_TYPE_p / _g). Volatile accesses: each call is one
// real load or store, so a loop polling g() re-reads the peer's memory and
// successive p() calls are not merged. No ordering beyond program order of
// this thread's volatile accesses; use fence/quiet or signals for that.
template <typename T>
__device__ __forceinline__ void p(const tdmShmemDevice_t& sh, T* dest, T value, int pe) {
  *const_cast<volatile T*>(ptr(sh, dest, pe)) = value;
}
template <typename T>
__device__ __forceinline__ T g(const tdmShmemDevice_t& sh, const T* src, int pe) {
  return *const_cast<const volatile T*>(ptr(sh, src, pe));
}

// ---- ordering ----

__device__ __forceinline__ void fence(const tdmShmemDevice_t&) {
  tandem::detail::fence_acq_rel_sys();
}
// Completes the calling thread's earlier puts, atomics and signals (as
// NVSHMEM's device quiet: per thread). After a warp or block put, every
// thread of the group calls quiet, or the group syncs and one thread signals.
__device__ __forceinline__ void quiet(const tdmShmemDevice_t&) { tandem::detail::fence_sys(); }

// ---- signals ----

__device__ __forceinline__ void signal_op(const tdmShmemDevice_t& sh, uint64_t* sig_addr,
                                          uint64_t value, tdmSignalOp_t op, int pe) {
  detail::signal_update(ptr(sh, sig_addr, pe), value, op);
}

// Data, then (after the whole group's data is written) the signal, by one thread.
template <Scope S = Scope::kThread>
__device__ __forceinline__ void put_signal_nbi(const tdmShmemDevice_t& sh, void* dest,
                                               const void* src, size_t bytes, uint64_t* sig_addr,
                                               uint64_t signal, tdmSignalOp_t op, int pe) {
  put_nbi<S>(sh, dest, src, bytes, pe);
  detail::group_sync<S>();
  if (detail::group_rank<S>() == 0) {
    // Cumulativity: the group's stores, ordered before this thread by the
    // group barrier, are made visible before the release update.
    tandem::detail::fence_acq_rel_sys();
    detail::signal_update(ptr(sh, sig_addr, pe), signal, op);
  }
}
template <Scope S = Scope::kThread>
__device__ __forceinline__ void put_signal(const tdmShmemDevice_t& sh, void* dest, const void* src,
                                           size_t bytes, uint64_t* sig_addr, uint64_t signal,
                                           tdmSignalOp_t op, int pe) {
  put_signal_nbi<S>(sh, dest, src, bytes, sig_addr, signal, op, pe);
  detail::group_sync<S>();
}

// Waits on a local symmetric word; returns the value that satisfied `cmp`.
template <typename T>
__device__ __forceinline__ T wait_until(const tdmShmemDevice_t& sh, const T* ivar, tdmCmp_t cmp,
                                        T value) {
  tandem::detail::Deadline deadline(sh.timeout_ns, sh.internal_error);
  for (;;) {
    T seen = tandem::detail::ld_acquire_any(ivar);
    if (tandem::detail::compare(seen, cmp, value)) return seen;
    deadline.check();
  }
}
__device__ __forceinline__ uint64_t signal_wait_until(const tdmShmemDevice_t& sh,
                                                      const uint64_t* sig_addr, tdmCmp_t cmp,
                                                      uint64_t value) {
  return wait_until<uint64_t>(sh, sig_addr, cmp, value);
}
__device__ __forceinline__ uint64_t signal_fetch(const tdmShmemDevice_t&,
                                                 const uint64_t* sig_addr) {
  return tandem::detail::ld_acquire_sys(sig_addr);
}

// ---- atomics (32- and 64-bit integers) ----

namespace detail {
// CUDA's atomic*_system overloads take int, unsigned int and unsigned long
// long only; uint64_t / int64_t (unsigned long / long on LP64) match none of
// them. 64-bit words go through unsigned long long (two's complement add,
// bitwise compare and exchange), 32-bit ones through int or unsigned int.
template <typename T>
struct AtomicWord {
  static_assert(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                "SHMEM atomics take 32- or 64-bit integers");
  using type = std::conditional_t<sizeof(T) == 8, unsigned long long,
                                  std::conditional_t<std::is_signed_v<T>, int, unsigned int>>;
};
template <typename T>
using atomic_word_t = typename AtomicWord<T>::type;
}  // namespace detail

template <typename T>
__device__ __forceinline__ T atomic_fetch_add(const tdmShmemDevice_t& sh, T* dest, T value,
                                              int pe) {
  using W = detail::atomic_word_t<T>;
  return static_cast<T>(
      atomicAdd_system(reinterpret_cast<W*>(ptr(sh, dest, pe)), static_cast<W>(value)));
}
template <typename T>
__device__ __forceinline__ void atomic_add(const tdmShmemDevice_t& sh, T* dest, T value, int pe) {
  atomic_fetch_add<T>(sh, dest, value, pe);
}
template <typename T>
__device__ __forceinline__ T atomic_compare_swap(const tdmShmemDevice_t& sh, T* dest, T compare,
                                                 T value, int pe) {
  using W = detail::atomic_word_t<T>;
  return static_cast<T>(atomicCAS_system(reinterpret_cast<W*>(ptr(sh, dest, pe)),
                                         static_cast<W>(compare), static_cast<W>(value)));
}
template <typename T>
__device__ __forceinline__ T atomic_swap(const tdmShmemDevice_t& sh, T* dest, T value, int pe) {
  using W = detail::atomic_word_t<T>;
  return static_cast<T>(
      atomicExch_system(reinterpret_cast<W*>(ptr(sh, dest, pe)), static_cast<W>(value)));
}
template <typename T>
__device__ __forceinline__ T atomic_fetch(const tdmShmemDevice_t& sh, const T* src, int pe) {
  return tandem::detail::ld_acquire_any(ptr(sh, const_cast<T*>(src), pe));
}

// ---- barriers ----

namespace detail {

// Cross-PE part, run by one thread: arrive at every PE, wait for every PE.
__device__ __forceinline__ void barrier_arrive_and_wait(const tdmShmemDevice_t& sh) {
  uint64_t* epoch_word = &sh.internal_local[0];
  const uint64_t epoch = *epoch_word + 1;
  *epoch_word = epoch;
  tandem::detail::fence_sys();  // quiet: our puts complete before we arrive
  for (int pe = 0; pe < sh.n_pes; ++pe)
    tandem::detail::atom_add_release_sys(ptr(sh, &sh.internal_barrier[sh.my_pe], pe), 1);
  tandem::detail::Deadline deadline(sh.timeout_ns, sh.internal_error);
  for (int pe = 0; pe < sh.n_pes; ++pe)
    while (tandem::detail::ld_acquire_sys(&sh.internal_barrier[pe]) < epoch) deadline.check();
}

// Sense-free grid barrier on a generation counter (internal_local[1..2]).
__device__ __forceinline__ void grid_sync(const tdmShmemDevice_t& sh) {
  __syncthreads();
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
    auto* arrived = reinterpret_cast<unsigned long long*>(&sh.internal_local[1]);
    auto* generation = reinterpret_cast<volatile unsigned long long*>(&sh.internal_local[2]);
    const unsigned blocks = gridDim.x * gridDim.y * gridDim.z;
    const unsigned long long gen = *generation;
    __threadfence();
    if (atomicAdd(arrived, 1ull) == blocks - 1) {
      *arrived = 0;
      __threadfence();
      *generation = gen + 1;
    } else {
      tandem::detail::Deadline deadline(sh.timeout_ns, sh.internal_error);
      while (*generation == gen) deadline.check();
    }
    __threadfence();
  }
  __syncthreads();
}

}  // namespace detail

// All PEs, called by one block on each PE (every thread of it).
template <Scope S = Scope::kBlock>
__device__ __forceinline__ void barrier(const tdmShmemDevice_t& sh) {
  detail::group_sync<S>();
  if (detail::group_rank<S>() == 0) detail::barrier_arrive_and_wait(sh);
  detail::group_sync<S>();
}

// Every thread of every block of the grid on every PE.
__device__ __forceinline__ void barrier_grid(const tdmShmemDevice_t& sh) {
  detail::grid_sync(sh);
  if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0) barrier<Scope::kBlock>(sh);
  detail::grid_sync(sh);
}

// Every block of the grid on this PE (no other PE involved).
__device__ __forceinline__ void sync_grid(const tdmShmemDevice_t& sh) { detail::grid_sync(sh); }

}  // namespace tandem::shmem
