#include "mem/shareable_alloc.h"

#include <map>
#include <mutex>

#include "device/driver.h"
#include "device/vmm.h"

namespace tdm::mem {

namespace {

// A block: its reservation and the mapping of its allocation into it
// (declared in that order, so the mapping goes first).
struct Block {
  device::VmmReservation reservation;
  device::VmmMapping mapping;
};

struct Blocks {
  std::mutex mutex;
  std::map<uintptr_t, Block> by_address;
};
Blocks& blocks() {
  static Blocks* b = new Blocks();  // never destroyed: frees may come from atexit paths
  return *b;
}

}  // namespace

void* shareable_alloc(size_t bytes) {
  int device = 0;
  TDM_CUDA(cudaGetDevice(&device));
  const size_t granularity = device::vmm_granularity(device);
  const size_t size = (bytes + granularity - 1) / granularity * granularity;
  Block block;
  device::VmmAllocation allocation = device::VmmAllocation::create(size, device);
  block.reservation = device::VmmReservation::reserve(size, granularity);
  block.mapping =
      device::VmmMapping::map(block.reservation.address(), size, std::move(allocation), device);
  const uintptr_t at = block.reservation.address();
  std::lock_guard lock(blocks().mutex);
  blocks().by_address.emplace(at, std::move(block));
  return reinterpret_cast<void*>(at);
}

bool shareable_free(void* ptr) {
  Block block;
  {
    std::lock_guard lock(blocks().mutex);
    auto it = blocks().by_address.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == blocks().by_address.end()) return false;
    block = std::move(it->second);
    blocks().by_address.erase(it);
  }
  cudaDeviceSynchronize();  // kernels may still use it
  return true;              // `block` unmaps, releases and frees the range here
}

std::optional<ShareableBlock> find_shareable(const void* ptr, size_t size) {
  const auto p = reinterpret_cast<uintptr_t>(ptr);
  std::lock_guard lock(blocks().mutex);
  auto it = blocks().by_address.upper_bound(p);
  if (it == blocks().by_address.begin()) return std::nullopt;
  --it;
  const Block& b = it->second;
  if (p + size > it->first + b.mapping.size()) return std::nullopt;
  return ShareableBlock{it->first, b.mapping.size(), b.mapping.allocation().get()};
}

}  // namespace tdm::mem
