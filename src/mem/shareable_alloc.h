// tdmMemAlloc on a CUDA device: cuMem memory that peers can map through
// POSIX file descriptors (windows over it need no CUDA IPC).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace tdm::mem {

// On the calling thread's current device.
void* shareable_alloc(size_t bytes);
// Frees what shareable_alloc returned (after the device is idle); false when
// `ptr` is not such an allocation.
bool shareable_free(void* ptr);

// The shareable allocation holding [ptr, ptr + size), if any.
struct ShareableBlock {
  uintptr_t base;
  size_t size;
  unsigned long long handle;  // CUmemGenericAllocationHandle
};
std::optional<ShareableBlock> find_shareable(const void* ptr, size_t size);

}  // namespace tdm::mem
