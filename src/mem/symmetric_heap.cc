#include "mem/symmetric_heap.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "device/driver.h"
#include "mem/fd_passing.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::mem {

namespace {

constexpr size_t kAlignment = 256;

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

struct PeerInfo {
  char hostname[64];
  int32_t device;
  int32_t vmm_ok;
  int32_t pid;
  int32_t padding;
  uint64_t heap_size;  // rank 0's wins
  cudaIpcMemHandle_t ipc;
  uint64_t ipc_pointer;  // for peers in the same process
};

bool vmm_supported(int device) {
  if (env::get_bool("TANDEM_SHMEM_IPC", false)) return false;
  try {
    auto& d = device::driver();
    CUdevice dev = 0;
    int vmm = 0, fd = 0;
    if (d.cuDeviceGet(&dev, device) != CUDA_SUCCESS ||
        d.cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
                               dev) != CUDA_SUCCESS ||
        d.cuDeviceGetAttribute(&fd, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED,
                               dev) != CUDA_SUCCESS)
      return false;
    if (!vmm || !fd) return false;
  } catch (const Error&) {
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<SymmetricHeap> SymmetricHeap::create(bootstrap::Bootstrap& boot, int device) {
  std::unique_ptr<SymmetricHeap> heap(new SymmetricHeap(boot, device));
  SymmetricHeap& h = *heap;
  TDM_CUDA(cudaSetDevice(device));
  PeerInfo mine{};
  gethostname(mine.hostname, sizeof(mine.hostname) - 1);
  mine.device = device;
  mine.vmm_ok = vmm_supported(device) ? 1 : 0;
  mine.pid = getpid();
  // 0: the default below; 1 TiB is address space, not memory, and keeps the
  // rounding up to the granularity from wrapping.
  mine.heap_size = env::get_size("TANDEM_SYMMETRIC_SIZE", 0, 0, uint64_t(1) << 40);
  auto infos = boot.allgather_value(mine);

  for (int r = 0; r < boot.nranks(); ++r)
    if (std::strncmp(infos[r].hostname, mine.hostname, sizeof(mine.hostname)) == 0)
      h.local_ranks_.push_back(r);
  bool vmm = true;
  for (int r : h.local_ranks_) vmm = vmm && infos[r].vmm_ok;
  // Every rank must pick the same mode for the same-offset rule to hold.
  int32_t everyone_vmm = vmm ? 1 : 0;
  for (int32_t v : boot.allgather_value(everyone_vmm)) vmm = vmm && v;
  h.mode_ = vmm ? Mode::kVmm : Mode::kIpc;
  const uint64_t asked = infos[0].heap_size;
  h.peer_base_.assign(boot.nranks(), 0);

  if (h.mode_ == Mode::kVmm) {
    h.granularity_ = device::vmm_granularity(device);
    h.size_ = round_up(asked ? asked : (size_t(4) << 30), h.granularity_);
    h.reservation_ = device::VmmReservation::reserve(h.size_ * boot.nranks(), h.granularity_);
    const uintptr_t base = h.reservation_.address();
    for (int r : h.local_ranks_) h.peer_base_[r] = base + size_t(r) * h.size_;
    h.local_ = reinterpret_cast<char*>(h.peer_base_[boot.rank()]);
  } else {
    h.size_ = round_up(asked ? asked : (size_t(1) << 30), size_t(2) << 20);
    h.ipc_local_ = device::device_alloc(h.size_);
    PeerInfo handle{};
    TDM_CUDA(cudaIpcGetMemHandle(&handle.ipc, h.ipc_local_.get()));
    handle.pid = mine.pid;
    handle.ipc_pointer = reinterpret_cast<uintptr_t>(h.ipc_local_.get());
    auto handles = boot.allgather_value(handle);
    for (int r : h.local_ranks_) {
      if (r == boot.rank()) {
        h.peer_base_[r] = reinterpret_cast<uintptr_t>(h.ipc_local_.get());
      } else if (handles[r].pid == mine.pid) {
        h.peer_base_[r] = handles[r].ipc_pointer;  // same process (tdmCommInitAll)
      } else {
        h.ipc_opened_.push_back(device::ipc_open(handles[r].ipc));
        h.peer_base_[r] = reinterpret_cast<uintptr_t>(h.ipc_opened_.back().get());
      }
    }
    h.local_ = static_cast<char*>(h.ipc_local_.get());
    h.committed_ = h.size_;
  }
  // Also used by window registration in either mode.
  h.fds_ = std::make_unique<FdPassing>(boot.nonce(), boot.rank());
  boot.barrier();  // every socket bound before the first handle is sent
  h.free_[0] = h.size_;
  h.device_peer_bases_ =
      device::device_copy_of(h.peer_base_.data(), sizeof(uintptr_t) * h.peer_base_.size());
  TDM_INFO("SHMEM", "symmetric heap of ", h.size_ >> 20, " MiB per PE through ",
           h.mode_ == Mode::kVmm ? "cuMem VMM + POSIX FDs" : "CUDA IPC", ", ",
           h.local_ranks_.size(), " PEs on this host");
  return heap;
}

// Members release everything, in reverse order of declaration.
SymmetricHeap::~SymmetricHeap() = default;

void SymmetricHeap::commit(size_t end) {
  if (end <= committed_) return;
  if (mode_ != Mode::kVmm)
    throw_error(tdmSystemError, "symmetric heap exhausted (", size_ >> 20,
                " MiB per PE); raise TANDEM_SYMMETRIC_SIZE");
  const size_t bytes = round_up(end - committed_, granularity_);
  device::VmmAllocation mine = device::VmmAllocation::create(bytes, device_);
  const Fd exported = mine.export_fd();
  const uint64_t tag = next_tag_++;
  const Deadline deadline = boot_.deadline();
  for (int r : local_ranks_)
    if (r != boot_.rank()) fds_->send(r, tag, exported.get(), deadline);
  // Map ours, then every peer's chunk, at the same offset of each heap.
  auto map = [&](int rank, device::VmmAllocation allocation) {
    chunks_.push_back(device::VmmMapping::map(peer_base_[rank] + committed_, bytes,
                                              std::move(allocation), device_));
  };
  map(boot_.rank(), std::move(mine));
  for (int r : local_ranks_) {
    if (r == boot_.rank()) continue;
    map(r, device::VmmAllocation::import(fds_->receive(r, tag, deadline)));
  }
  committed_ += bytes;
  boot_.barrier();  // no PE uses the new range before everyone mapped it
}

size_t SymmetricHeap::place(size_t bytes) {
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < bytes) continue;
    const size_t offset = it->first, left = it->second - bytes;
    free_.erase(it);
    if (left) free_[offset + bytes] = left;
    return offset;
  }
  throw_error(tdmSystemError, "symmetric heap exhausted: ", bytes, " bytes asked, heap of ",
              size_ >> 20, " MiB per PE; raise TANDEM_SYMMETRIC_SIZE");
}

void* SymmetricHeap::allocate(size_t bytes) {
  // Every PE must ask for the same size, or offsets would diverge.
  const uint64_t want = bytes;
  for (uint64_t other : boot_.allgather_value(want))
    if (other != want)
      throw_error(tdmInvalidUsage, "tdmShmemMalloc is collective: every rank must ask for the ",
                  "same size (this rank asked ", want, ", another ", other, ")");
  if (bytes == 0) return nullptr;
  const size_t rounded = round_up(bytes, kAlignment);
  const size_t offset = place(rounded);
  try {
    commit(offset + rounded);
  } catch (...) {
    free_[offset] = rounded;  // nothing changed (adjacent ranges merge at the next release)
    throw;
  }
  live_[offset] = rounded;
  return local_ + offset;
}

void SymmetricHeap::release(void* ptr) {
  const char* p = static_cast<const char*>(ptr);
  auto it = live_.find(static_cast<size_t>(p - local_));
  if (p < local_ || it == live_.end())
    throw_error(tdmInvalidArgument, "pointer ", ptr,
                " was not returned by tdmShmemMalloc on this communicator (or was freed)");
  TDM_CUDA(cudaDeviceSynchronize());
  boot_.barrier();  // no PE still reads or writes it
  size_t offset = it->first, bytes = it->second;
  live_.erase(it);
  auto next = free_.lower_bound(offset);
  if (next != free_.end() && next->first == offset + bytes) {
    bytes += next->second;
    free_.erase(next);
  }
  auto prev = free_.lower_bound(offset);
  if (prev != free_.begin()) {
    --prev;
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      bytes += prev->second;
      free_.erase(prev);
    }
  }
  free_[offset] = bytes;
}

bool SymmetricHeap::owns(const void* ptr) const {
  const char* p = static_cast<const char*>(ptr);
  if (p < local_ || p >= local_ + size_) return false;
  const size_t offset = static_cast<size_t>(p - local_);
  auto it = live_.upper_bound(offset);
  if (it == live_.begin()) return false;
  --it;
  return offset < it->first + it->second;
}

void* SymmetricHeap::peer_pointer(const void* local, int pe) const {
  const char* p = static_cast<const char*>(local);
  if (pe < 0 || pe >= static_cast<int>(peer_base_.size()) || peer_base_[pe] == 0) return nullptr;
  return reinterpret_cast<void*>(peer_base_[pe] + static_cast<size_t>(p - local_));
}

tdmShmemDevice_t SymmetricHeap::device_handle() const {
  tdmShmemDevice_t h{};
  h.my_pe = boot_.rank();
  h.n_pes = boot_.nranks();
  h.heap = local_;
  h.heap_size = size_;
  const bool all_local = static_cast<int>(local_ranks_.size()) == boot_.nranks();
  h.peer_stride = (mode_ == Mode::kVmm && all_local) ? static_cast<long long>(size_) : 0;
  h.peer_heaps = static_cast<const uintptr_t*>(device_peer_bases_.get());
  return h;
}

}  // namespace tdm::mem
