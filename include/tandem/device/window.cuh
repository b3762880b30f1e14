// Device view of a registered window: the peer's buffer, addressed by offset.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/shmem.h"

namespace tandem::window {

// Address of `offset` bytes into PE `pe`'s buffer; nullptr when out of range
// or not load/store reachable. Accesses follow the ordering rules of
// tandem/device/shmem.cuh (use its fence/quiet and signals to order them).
template <typename T = void>
__device__ __forceinline__ T* ptr(const tdmWindowDevice_t& win, int pe, size_t offset = 0) {
  if (pe < 0 || pe >= win.n_pes || offset >= win.size) return nullptr;
  const uintptr_t base = win.peer_bases[pe];
  return base ? reinterpret_cast<T*>(base + offset) : nullptr;
}

}  // namespace tandem::window
