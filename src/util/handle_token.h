// Handles the C API gives out (communicators, windows, registrations): a
// number that is never an object's address and is never given out twice, so
// a handle used after its object was destroyed is recognised as stale even
// once the allocator hands the object's memory to a new one (addresses came
// back within a few destroy/create pairs).
#pragma once

#include <atomic>
#include <cstdint>

namespace tdm {

// Top bits set and bit 47 clear: not a canonical x86-64 or AArch64 address, so
// a caller that dereferences a handle faults at once instead of reading memory.
inline constexpr uint64_t kHandleTag = 0x7d4d'0000'0000'0000ULL;

// Process-wide and monotonic: 2^48 handles before the counter could wrap.
inline uint64_t new_handle_token() {
  static std::atomic<uint64_t> next{1};
  return kHandleTag | next.fetch_add(1, std::memory_order_relaxed);
}

template <typename Handle>
Handle as_handle(uint64_t token) {
  return reinterpret_cast<Handle>(static_cast<uintptr_t>(token));
}

template <typename Handle>
uint64_t token_of(Handle handle) {
  return reinterpret_cast<uintptr_t>(handle);
}

}  // namespace tdm
