// cuMem virtual memory management, as Tandem uses it to share device memory
// between processes: physical allocations exportable as POSIX file
// descriptors, address reservations, and mappings. Every resource is an
// owning, move-only handle released on destruction (best effort).
#pragma once

#include <cuda.h>

#include <cstddef>
#include <cstdint>

#include "util/fd.h"

namespace tdm::device {

// Pinned memory on `device`, exportable as a POSIX FD: the one allocation
// property every cuMem allocation of Tandem's takes.
CUmemAllocationProp exportable_allocation(int device);
// Recommended granularity of such allocations.
size_t vmm_granularity(int device);
// Read-write access for `device` to [at, at + size).
void grant_access(uintptr_t at, size_t size, int device);

// A physical allocation (created here or imported from a peer's FD).
class VmmAllocation {
 public:
  VmmAllocation() = default;
  static VmmAllocation create(size_t bytes, int device);
  static VmmAllocation import(const Fd& fd);
  ~VmmAllocation() { reset(); }
  VmmAllocation(VmmAllocation&& other) noexcept;
  VmmAllocation& operator=(VmmAllocation&& other) noexcept;
  VmmAllocation(const VmmAllocation&) = delete;
  VmmAllocation& operator=(const VmmAllocation&) = delete;

  CUmemGenericAllocationHandle get() const { return handle_; }
  // A new POSIX FD for the allocation, to pass to a peer process.
  Fd export_fd() const;
  void reset();

 private:
  explicit VmmAllocation(CUmemGenericAllocationHandle handle) : handle_(handle), owned_(true) {}
  CUmemGenericAllocationHandle handle_ = 0;
  bool owned_ = false;
};

// A range of virtual addresses.
class VmmReservation {
 public:
  VmmReservation() = default;
  static VmmReservation reserve(size_t size, size_t alignment);
  ~VmmReservation() { reset(); }
  VmmReservation(VmmReservation&& other) noexcept;
  VmmReservation& operator=(VmmReservation&& other) noexcept;
  VmmReservation(const VmmReservation&) = delete;
  VmmReservation& operator=(const VmmReservation&) = delete;

  uintptr_t address() const { return address_; }
  size_t size() const { return size_; }
  void reset();

 private:
  uintptr_t address_ = 0;
  size_t size_ = 0;
};

// An allocation mapped at an address of a reservation, with read-write
// access for one device. Owns the allocation: unmapped, then released.
class VmmMapping {
 public:
  VmmMapping() = default;
  static VmmMapping map(uintptr_t at, size_t size, VmmAllocation allocation, int device);
  ~VmmMapping() { reset(); }
  VmmMapping(VmmMapping&& other) noexcept;
  VmmMapping& operator=(VmmMapping&& other) noexcept;
  VmmMapping(const VmmMapping&) = delete;
  VmmMapping& operator=(const VmmMapping&) = delete;

  uintptr_t address() const { return address_; }
  size_t size() const { return size_; }
  const VmmAllocation& allocation() const { return allocation_; }
  void reset();

 private:
  uintptr_t address_ = 0;
  size_t size_ = 0;
  VmmAllocation allocation_;
};

}  // namespace tdm::device
