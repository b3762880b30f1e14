// A collective window (tdmCommWindowRegister): every rank's buffer mapped by
// every same-host rank, through cuMem FDs or CUDA IPC as each buffer allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "device/memory.h"
#include "device/vmm.h"
#include "tandem/shmem.h"

namespace tdm::mem {

class SymmetricHeap;

class Window {
 public:
  // Collective over the bootstrap's ranks; `heap` lends its FD channel.
  // Without `device_handle` no device memory is allocated (device_handle()
  // is then unusable): what a window made while a stream captures needs.
  static std::unique_ptr<Window> create(bootstrap::Bootstrap& boot, SymmetricHeap& heap, int device,
                                        void* buff, size_t size, bool device_handle = true);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // `rank`'s buffer at `offset`, in this process; null when unreachable.
  void* peer(int rank, size_t offset) const;
  // This rank's buffer and every rank's size.
  char* local() const { return reinterpret_cast<char*>(bases_[rank_]); }
  size_t size(int rank) const { return sizes_.at(rank); }
  tdmWindowDevice_t device_handle() const;

 private:
  Window(int rank, int nranks) : rank_(rank), nranks_(nranks) {}
  int rank_;
  int nranks_;
  std::vector<uintptr_t> bases_;  // by rank, 0 when unreachable
  std::vector<size_t> sizes_;
  struct Import {  // a peer's cuMem allocation: its range, then its mapping
    device::VmmReservation range;
    device::VmmMapping mapping;
  };
  std::vector<Import> imports_;
  std::vector<device::IpcMapping> ipc_opened_;
  device::DeviceMemory device_bases_;
};

}  // namespace tdm::mem
