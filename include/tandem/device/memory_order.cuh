// Memory-model building blocks shared by the device API and Tandem's own
// kernels: system-scope release/acquire loads, stores and atomics (PTX ISA
// 7.0+), and a bounded spin that traps instead of hanging.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/shmem.h"

namespace tandem::detail {

__device__ __forceinline__ uint64_t ld_acquire_sys(const uint64_t* p) {
  uint64_t v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ uint32_t ld_acquire_sys(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ uint64_t ld_relaxed_sys(const uint64_t* p) {
  uint64_t v;
  asm volatile("ld.relaxed.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void st_release_sys(uint64_t* p, uint64_t v) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ void st_relaxed_sys(uint64_t* p, uint64_t v) {
  asm volatile("st.relaxed.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ uint64_t atom_add_release_sys(uint64_t* p, uint64_t v) {
  uint64_t old;
  asm volatile("atom.release.sys.global.add.u64 %0, [%1], %2;"
               : "=l"(old)
               : "l"(p), "l"(v)
               : "memory");
  return old;
}
// Completes and orders every earlier memory access of this thread at system
// scope (what quiet and fence need on load/store transports).
__device__ __forceinline__ void fence_sys() { asm volatile("fence.sc.sys;" ::: "memory"); }
__device__ __forceinline__ void fence_acq_rel_sys() {
  asm volatile("fence.acq_rel.sys;" ::: "memory");
}

__device__ __forceinline__ uint64_t global_timer_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Bounded wait: after `timeout_ns` (0: never) records the failure where the
// host can read it and traps, which fails the stream with an error instead of
// hanging the GPU forever.
struct Deadline {
  uint64_t start;
  uint64_t timeout_ns;
  int* error;
  uint32_t polls = 0;
  __device__ Deadline(unsigned long long timeout, int* error_word)
      : start(global_timer_ns()), timeout_ns(timeout), error(error_word) {}
  __device__ __forceinline__ void check() {
    if (timeout_ns == 0 || (++polls & 1023) != 0) return;
    if (global_timer_ns() - start > timeout_ns) {
      if (error) atomicExch_system(error, 1);
      __trap();
    }
  }
};

template <typename T>
__device__ __forceinline__ bool compare(T value, tdmCmp_t cmp, T target) {
  switch (cmp) {
    case TDM_CMP_EQ:
      return value == target;
    case TDM_CMP_NE:
      return value != target;
    case TDM_CMP_GT:
      return value > target;
    case TDM_CMP_LE:
      return value <= target;
    case TDM_CMP_LT:
      return value < target;
    case TDM_CMP_GE:
      return value >= target;
  }
  return false;
}

// Acquire load at system scope for the types wait_until accepts.
template <typename T>
__device__ __forceinline__ T ld_acquire_any(const T* p) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "wait_until takes 32- or 64-bit words");
  if constexpr (sizeof(T) == 8) {
    uint64_t v = ld_acquire_sys(reinterpret_cast<const uint64_t*>(p));
    return *reinterpret_cast<T*>(&v);
  } else {
    uint32_t v = ld_acquire_sys(reinterpret_cast<const uint32_t*>(p));
    return *reinterpret_cast<T*>(&v);
  }
}

}  // namespace tandem::detail
