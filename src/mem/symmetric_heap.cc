#include "mem/symmetric_heap.h"

#if TANDEM_HAVE_CUDA
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "comm/comm.h"
#include "transports/p2p/cuda_driver.h"
#include "transports/p2p/fd_passing.h"
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

CUmemAllocationProp allocation_prop(int device) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  return prop;
}

bool vmm_supported(int device) {
  if (env::get_bool("TANDEM_SHMEM_IPC", false)) return false;
  try {
    auto& d = cuda::driver();
    CUdevice dev = 0;
    int vmm = 0, fd = 0;
    if (d.cuDeviceGet(&dev, device) != CUDA_SUCCESS ||
        d.cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev) !=
            CUDA_SUCCESS ||
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

std::unique_ptr<SymmetricHeap> SymmetricHeap::create(Comm& comm) {
  std::unique_ptr<SymmetricHeap> heap(new SymmetricHeap(comm));
  SymmetricHeap& h = *heap;
  const int device = comm.cuda_device;
  TDM_CUDA(cudaSetDevice(device));
  PeerInfo mine{};
  gethostname(mine.hostname, sizeof(mine.hostname) - 1);
  mine.device = device;
  mine.vmm_ok = vmm_supported(device) ? 1 : 0;
  mine.pid = getpid();
  mine.heap_size = env::get_size("TANDEM_SYMMETRIC_SIZE", 0);
  auto infos = comm.boot->allgather_value(mine);

  for (int r = 0; r < comm.nranks; ++r)
    if (std::strncmp(infos[r].hostname, mine.hostname, sizeof(mine.hostname)) == 0)
      h.local_ranks_.push_back(r);
  bool vmm = true;
  for (int r : h.local_ranks_) vmm = vmm && infos[r].vmm_ok;
  // Every rank must pick the same mode for the same-offset rule to hold.
  int32_t everyone_vmm = vmm ? 1 : 0;
  for (int32_t v : comm.boot->allgather_value(everyone_vmm)) vmm = vmm && v;
  h.mode_ = vmm ? Mode::kVmm : Mode::kIpc;
  const uint64_t asked = infos[0].heap_size;
  h.peer_base_.assign(comm.nranks, 0);

  if (h.mode_ == Mode::kVmm) {
    CUmemAllocationProp prop = allocation_prop(device);
    TDM_CU(cuda::driver().cuMemGetAllocationGranularity(&h.granularity_, &prop,
                                                        CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    h.size_ = round_up(asked ? asked : (size_t(4) << 30), h.granularity_);
    h.reservation_size_ = h.size_ * comm.nranks;
    CUdeviceptr base = 0;
    TDM_CU(cuda::driver().cuMemAddressReserve(&base, h.reservation_size_, h.granularity_, 0, 0));
    h.reservation_ = base;
    for (int r : h.local_ranks_) h.peer_base_[r] = base + size_t(r) * h.size_;
    h.local_ = reinterpret_cast<char*>(h.peer_base_[comm.rank]);
  } else {
    h.size_ = round_up(asked ? asked : (size_t(1) << 30), size_t(2) << 20);
    TDM_CUDA(cudaMalloc(&h.ipc_local_, h.size_));
    PeerInfo handle{};
    TDM_CUDA(cudaIpcGetMemHandle(&handle.ipc, h.ipc_local_));
    handle.pid = mine.pid;
    handle.ipc_pointer = reinterpret_cast<uintptr_t>(h.ipc_local_);
    auto handles = comm.boot->allgather_value(handle);
    for (int r : h.local_ranks_) {
      if (r == comm.rank) {
        h.peer_base_[r] = reinterpret_cast<uintptr_t>(h.ipc_local_);
      } else if (handles[r].pid == mine.pid) {
        h.peer_base_[r] = handles[r].ipc_pointer;  // same process (tdmCommInitAll)
      } else {
        void* opened = nullptr;
        TDM_CUDA(cudaIpcOpenMemHandle(&opened, handles[r].ipc, cudaIpcMemLazyEnablePeerAccess));
        h.ipc_opened_.push_back(opened);
        h.peer_base_[r] = reinterpret_cast<uintptr_t>(opened);
      }
    }
    h.local_ = static_cast<char*>(h.ipc_local_);
    h.committed_ = h.size_;
  }
  // Also used by window registration in either mode.
  h.fds_ = std::make_unique<p2p::FdPassing>(comm.boot->nonce(), comm.rank);
  comm.boot->barrier();  // every socket bound before the first handle is sent
  h.free_[0] = h.size_;
  TDM_CUDA(cudaMalloc(reinterpret_cast<void**>(&h.device_peer_bases_),
                      sizeof(uintptr_t) * comm.nranks));
  TDM_CUDA(cudaMemcpy(h.device_peer_bases_, h.peer_base_.data(), sizeof(uintptr_t) * comm.nranks,
                      cudaMemcpyHostToDevice));
  TDM_INFO("SHMEM", "symmetric heap of ", h.size_ >> 20, " MiB per PE through ",
           h.mode_ == Mode::kVmm ? "cuMem VMM + POSIX FDs" : "CUDA IPC", ", ",
           h.local_ranks_.size(), " PEs on this host");
  return heap;
}

SymmetricHeap::~SymmetricHeap() {
  // Best effort: a failing driver call in a destructor must not throw.
  if (device_peer_bases_) cudaFree(device_peer_bases_);
  if (mode_ == Mode::kVmm) {
    auto& d = cuda::driver();
    for (const Chunk& c : chunks_) {
      d.cuMemUnmap(c.address, c.size);
      d.cuMemRelease(c.handle);
    }
    if (reservation_) d.cuMemAddressFree(reservation_, reservation_size_);
  } else {
    for (void* p : ipc_opened_) cudaIpcCloseMemHandle(p);
    if (ipc_local_) cudaFree(ipc_local_);
  }
  cudaGetLastError();
}

void SymmetricHeap::commit(size_t end) {
  if (end <= committed_) return;
  if (mode_ != Mode::kVmm)
    throw_error(tdmSystemError, "symmetric heap exhausted (", size_ >> 20,
                " MiB per PE); raise TANDEM_SYMMETRIC_SIZE");
  auto& d = cuda::driver();
  const size_t bytes = round_up(end - committed_, granularity_);
  const int device = comm_.cuda_device;
  CUmemAllocationProp prop = allocation_prop(device);
  CUmemGenericAllocationHandle mine = 0;
  TDM_CU(d.cuMemCreate(&mine, bytes, &prop, 0));
  int exported = -1;
  CUresult er = d.cuMemExportToShareableHandle(&exported, mine,
                                               CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  if (er != CUDA_SUCCESS) d.cuMemRelease(mine);
  TDM_CU(er);
  Fd exported_fd(exported);
  const uint64_t tag = next_tag_++;
  const Deadline deadline = comm_.boot->deadline();
  for (int r : local_ranks_)
    if (r != comm_.rank) fds_->send(r, tag, exported_fd.get(), deadline);
  // Map ours, then every peer's chunk, at the same offset of each heap.
  auto map = [&](int rank, CUmemGenericAllocationHandle handle) {
    const uintptr_t at = peer_base_[rank] + committed_;
    CUresult r = d.cuMemMap(at, bytes, 0, handle, 0);
    if (r != CUDA_SUCCESS) d.cuMemRelease(handle);
    TDM_CU(r);
    chunks_.push_back({at, bytes, handle});
    CUmemAccessDesc access{};
    access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    access.location.id = device;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    TDM_CU(d.cuMemSetAccess(at, bytes, &access, 1));
  };
  map(comm_.rank, mine);
  for (int r : local_ranks_) {
    if (r == comm_.rank) continue;
    Fd fd = fds_->receive(r, tag, deadline);
    CUmemGenericAllocationHandle imported = 0;
    TDM_CU(d.cuMemImportFromShareableHandle(
        &imported, reinterpret_cast<void*>(static_cast<uintptr_t>(fd.get())),
        CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
    map(r, imported);
  }
  committed_ += bytes;
  comm_.boot->barrier();  // no PE uses the new range before everyone mapped it
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
  for (uint64_t other : comm_.boot->allgather_value(want))
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
  comm_.boot->barrier();  // no PE still reads or writes it
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
  h.my_pe = comm_.rank;
  h.n_pes = comm_.nranks;
  h.heap = local_;
  h.heap_size = size_;
  const bool all_local = static_cast<int>(local_ranks_.size()) == comm_.nranks;
  h.peer_stride = (mode_ == Mode::kVmm && all_local) ? static_cast<long long>(size_) : 0;
  h.peer_heaps = device_peer_bases_;
  return h;
}

}  // namespace tdm::mem
#endif
