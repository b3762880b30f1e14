// The symmetric heap of a communicator: same-size heaps on every PE, objects
// at the same offset everywhere, and every same-host PE's heap mapped here
// for load/store.
//
// Two ways to share device memory between processes, chosen at init (all
// same-host ranks must support the first, else all use the second):
// - cuMem VMM: one address reservation for all PEs (PE p's heap at
//   base + p * stride), physical chunks committed as the heap grows and
//   exported as POSIX file descriptors, passed over a Unix socket;
// - legacy CUDA IPC: the whole heap allocated up front with cudaMalloc and
//   opened by peers with cudaIpcOpenMemHandle (TANDEM_SHMEM_IPC=1 forces it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "device/memory.h"
#include "device/vmm.h"
#include "mem/fd_passing.h"
#include "tandem/shmem.h"

namespace tdm::mem {

class SymmetricHeap {
 public:
  enum class Mode { kVmm, kIpc };

  // Collective over the bootstrap's ranks, each on its CUDA `device`.
  static std::unique_ptr<SymmetricHeap> create(bootstrap::Bootstrap& boot, int device);
  ~SymmetricHeap();
  SymmetricHeap(const SymmetricHeap&) = delete;
  SymmetricHeap& operator=(const SymmetricHeap&) = delete;

  // Collective: every PE asks for the same size and gets the same offset.
  void* allocate(size_t bytes);
  // Collective: frees an allocation (after the device is idle).
  void release(void* ptr);
  bool owns(const void* ptr) const;  // inside a live allocation
  // Where the object at `local` lives on `pe`, in this process; null when unreachable.
  void* peer_pointer(const void* local, int pe) const;
  bool reachable(int pe) const { return peer_base_[pe] != 0; }

  Mode mode() const { return mode_; }
  size_t size() const { return size_; }
  char* base() const { return local_; }
  // The handle kernels take (internal words set up by the caller).
  tdmShmemDevice_t device_handle() const;
  // Ranks on this host (including this one), ascending.
  const std::vector<int>& local_ranks() const { return local_ranks_; }
  // The communicator's fd-passing socket and a fresh tag for one exchange
  // (window registration shares them).
  mem::FdPassing& fd_passing() { return *fds_; }
  uint64_t next_tag() { return next_tag_++; }

 private:
  SymmetricHeap(bootstrap::Bootstrap& boot, int device) : boot_(boot), device_(device) {}
  void commit(size_t end);  // collective: maps [committed_, end) on every local PE
  size_t place(size_t bytes);

  bootstrap::Bootstrap& boot_;
  int device_;
  Mode mode_ = Mode::kVmm;
  size_t size_ = 0;         // per PE
  size_t granularity_ = 0;  // VMM chunk granularity
  size_t committed_ = 0;    // bytes mapped at the start of every heap
  std::vector<int> local_ranks_;
  std::vector<uintptr_t> peer_base_;  // by PE: heap address here, 0 if unreachable
  char* local_ = nullptr;

  // Destroyed in reverse order: the device copy, mappings, then the reservation.
  // VMM
  device::VmmReservation reservation_;
  std::vector<device::VmmMapping> chunks_;  // every mapped chunk (ours and peers')
  uint64_t next_tag_ = 1;
  std::unique_ptr<FdPassing> fds_;

  // IPC
  device::DeviceMemory ipc_local_;
  std::vector<device::IpcMapping> ipc_opened_;

  // Allocator: offset -> size of live blocks; free ranges by offset.
  std::map<size_t, size_t> live_;
  std::map<size_t, size_t> free_;

  device::DeviceMemory device_peer_bases_;  // device copy of peer_base_
};

}  // namespace tdm::mem
