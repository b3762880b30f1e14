#include "device/vmm.h"

#include <utility>

#include "device/driver.h"

namespace tdm::device {

CUmemAllocationProp exportable_allocation(int device) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  return prop;
}

size_t vmm_granularity(int device) {
  const CUmemAllocationProp prop = exportable_allocation(device);
  size_t granularity = 0;
  TDM_CU(driver().cuMemGetAllocationGranularity(&granularity, &prop,
                                                CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  return granularity;
}

void grant_access(uintptr_t at, size_t size, int device) {
  CUmemAccessDesc access{};
  access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  access.location.id = device;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  TDM_CU(driver().cuMemSetAccess(at, size, &access, 1));
}

// ---- VmmAllocation ----

VmmAllocation VmmAllocation::create(size_t bytes, int device) {
  const CUmemAllocationProp prop = exportable_allocation(device);
  CUmemGenericAllocationHandle handle = 0;
  TDM_CU(driver().cuMemCreate(&handle, bytes, &prop, 0));
  return VmmAllocation(handle);
}

VmmAllocation VmmAllocation::import(const Fd& fd) {
  CUmemGenericAllocationHandle handle = 0;
  TDM_CU(driver().cuMemImportFromShareableHandle(
      &handle, reinterpret_cast<void*>(static_cast<uintptr_t>(fd.get())),
      CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
  return VmmAllocation(handle);
}

VmmAllocation::VmmAllocation(VmmAllocation&& other) noexcept
    : handle_(std::exchange(other.handle_, 0)), owned_(std::exchange(other.owned_, false)) {}

VmmAllocation& VmmAllocation::operator=(VmmAllocation&& other) noexcept {
  if (this != &other) {
    reset();
    handle_ = std::exchange(other.handle_, 0);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Fd VmmAllocation::export_fd() const {
  int fd = -1;
  TDM_CU(driver().cuMemExportToShareableHandle(&fd, handle_,
                                               CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
  return Fd(fd);
}

void VmmAllocation::reset() {
  if (owned_) driver().cuMemRelease(handle_);
  handle_ = 0;
  owned_ = false;
}

// ---- VmmReservation ----

VmmReservation VmmReservation::reserve(size_t size, size_t alignment) {
  CUdeviceptr at = 0;
  TDM_CU(driver().cuMemAddressReserve(&at, size, alignment, 0, 0));
  VmmReservation r;
  r.address_ = static_cast<uintptr_t>(at);
  r.size_ = size;
  return r;
}

VmmReservation::VmmReservation(VmmReservation&& other) noexcept
    : address_(std::exchange(other.address_, 0)), size_(std::exchange(other.size_, 0)) {}

VmmReservation& VmmReservation::operator=(VmmReservation&& other) noexcept {
  if (this != &other) {
    reset();
    address_ = std::exchange(other.address_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void VmmReservation::reset() {
  if (address_) driver().cuMemAddressFree(address_, size_);
  address_ = 0;
  size_ = 0;
}

// ---- VmmMapping ----

VmmMapping VmmMapping::map(uintptr_t at, size_t size, VmmAllocation allocation, int device) {
  TDM_CU(driver().cuMemMap(at, size, 0, allocation.get(), 0));
  VmmMapping m;
  m.address_ = at;
  m.size_ = size;
  m.allocation_ = std::move(allocation);
  grant_access(at, size, device);  // on failure m unmaps and releases
  return m;
}

VmmMapping::VmmMapping(VmmMapping&& other) noexcept
    : address_(std::exchange(other.address_, 0)),
      size_(std::exchange(other.size_, 0)),
      allocation_(std::move(other.allocation_)) {}

VmmMapping& VmmMapping::operator=(VmmMapping&& other) noexcept {
  if (this != &other) {
    reset();
    address_ = std::exchange(other.address_, 0);
    size_ = std::exchange(other.size_, 0);
    allocation_ = std::move(other.allocation_);
  }
  return *this;
}

void VmmMapping::reset() {
  if (address_) driver().cuMemUnmap(address_, size_);
  address_ = 0;
  size_ = 0;
  allocation_.reset();
}

}  // namespace tdm::device
