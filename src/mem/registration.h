// Device memory that peers can map: tdmMemAlloc's cuMem allocations, local
// registrations (tdmCommRegister) and collective windows (tdmCommWindowRegister).
#pragma once

#if TANDEM_HAVE_CUDA
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tandem/shmem.h"

namespace tdm {
struct Comm;
}

namespace tdm::mem {

// tdmMemAlloc on the current device: cuMem memory exportable as a POSIX FD.
void* vmm_alloc(size_t bytes);
// Frees what vmm_alloc returned; false when `ptr` is not such an allocation.
bool vmm_free(void* ptr);

// How a buffer can be shared with processes of the same host.
struct Export {
  enum Kind : int32_t { kVmm = 0, kIpc = 1 } kind;
  uintptr_t base;  // start of the underlying allocation
  size_t span;     // its size
  size_t offset;   // of the buffer inside it
  unsigned long long vmm_handle;
};
// Throws tdmInvalidArgument when `buff` is not CUDA device memory.
Export describe(const void* buff, size_t size);

// A collective window: every rank's buffer mapped by every same-host rank.
class Window {
 public:
  static std::unique_ptr<Window> create(Comm& comm, void* buff, size_t size);
  ~Window();
  Comm& comm() const { return comm_; }
  void* peer(int rank, size_t offset) const;
  // This rank's buffer and every rank's size.
  char* local() const;
  size_t size(int rank) const { return sizes_.at(rank); }
  tdmWindowDevice_t device_handle() const;

 private:
  explicit Window(Comm& comm) : comm_(comm) {}
  Comm& comm_;
  std::vector<uintptr_t> bases_;  // by rank, 0 when unreachable
  std::vector<size_t> sizes_;
  uintptr_t* device_bases_ = nullptr;
  struct Mapping {
    uintptr_t address;
    size_t size;
    unsigned long long handle;
  };
  std::vector<Mapping> mappings_;  // VMM imports (unmapped, released, address freed)
  std::vector<void*> ipc_opened_;
};

}  // namespace tdm::mem
#endif
