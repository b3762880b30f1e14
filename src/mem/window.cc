#include "mem/window.h"

#include <unistd.h>

#include "device/driver.h"
#include "mem/registration.h"
#include "mem/symmetric_heap.h"
#include "util/error.h"

namespace tdm::mem {

namespace {

struct Entry {
  int32_t kind;
  int32_t pid;
  uint64_t base;
  uint64_t span;
  uint64_t offset;
  uint64_t size;
  cudaIpcMemHandle_t ipc;
};

}  // namespace

std::unique_ptr<Window> Window::create(bootstrap::Bootstrap& boot, SymmetricHeap& heap, int device,
                                       void* buff, size_t size, bool device_handle) {
  const Export ex = describe(buff, size);
  const int rank = boot.rank(), nranks = boot.nranks();
  std::unique_ptr<Window> w(new Window(rank, nranks));
  Entry mine{};
  mine.kind = ex.kind;
  mine.pid = getpid();
  mine.base = ex.base;
  mine.span = ex.span;
  mine.offset = ex.offset;
  mine.size = size;
  if (ex.kind == Export::kIpc)
    TDM_CUDA(cudaIpcGetMemHandle(&mine.ipc, reinterpret_cast<void*>(ex.base)));
  auto entries = boot.allgather_value(mine);
  const auto& local = heap.local_ranks();
  const uint64_t tag = heap.next_tag();
  const Deadline deadline = boot.deadline();
  if (ex.kind == Export::kVmm) {
    int fd = -1;
    TDM_CU(device::driver().cuMemExportToShareableHandle(
        &fd, ex.vmm_handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    const Fd exported(fd);
    for (int r : local)
      if (r != rank && entries[r].pid != mine.pid)
        heap.fd_passing().send(r, tag, exported.get(), deadline);
  }
  w->bases_.assign(nranks, 0);
  w->sizes_.resize(nranks);
  for (int r = 0; r < nranks; ++r) w->sizes_[r] = entries[r].size;
  for (int r : local) {
    const Entry& e = entries[r];
    if (r == rank || e.pid == mine.pid) {
      w->bases_[r] = e.base + e.offset;  // same process: the address is valid here
      continue;
    }
    if (e.kind == Export::kIpc) {
      w->ipc_opened_.push_back(device::ipc_open(e.ipc));
      w->bases_[r] = reinterpret_cast<uintptr_t>(w->ipc_opened_.back().get()) + e.offset;
      continue;
    }
    auto allocation = device::VmmAllocation::import(heap.fd_passing().receive(r, tag, deadline));
    Import import;
    import.range = device::VmmReservation::reserve(e.span, 0);
    import.mapping =
        device::VmmMapping::map(import.range.address(), e.span, std::move(allocation), device);
    w->bases_[r] = import.range.address() + e.offset;
    w->imports_.push_back(std::move(import));
  }
  if (device_handle)
    w->device_bases_ = device::device_copy_of(w->bases_.data(), sizeof(uintptr_t) * nranks);
  boot.barrier();  // every rank mapped before anyone writes through the window
  return w;
}

Window::~Window() {
  cudaDeviceSynchronize();  // no kernel still uses the mappings the members release
}

void* Window::peer(int rank, size_t offset) const {
  if (rank < 0 || rank >= static_cast<int>(bases_.size()))
    throw_error(tdmInvalidArgument, "peer ", rank, " is out of range for a window of ",
                bases_.size(), " ranks");
  if (offset >= sizes_[rank])
    throw_error(tdmInvalidArgument, "offset ", offset, " is past rank ", rank, "'s buffer of ",
                sizes_[rank], " bytes");
  return bases_[rank] ? reinterpret_cast<void*>(bases_[rank] + offset) : nullptr;
}

tdmWindowDevice_t Window::device_handle() const {
  tdmWindowDevice_t h{};
  h.my_pe = rank_;
  h.n_pes = nranks_;
  h.size = sizes_[rank_];
  h.peer_bases = static_cast<const uintptr_t*>(device_bases_.get());
  return h;
}

}  // namespace tdm::mem
