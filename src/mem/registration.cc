#include "mem/registration.h"

#if TANDEM_HAVE_CUDA
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>

#include "collectives/cuda/engine.h"
#include "comm/comm.h"
#include "transports/p2p/cuda_driver.h"
#include "util/error.h"

namespace tdm::mem {

namespace {

struct VmmBlock {
  size_t size;
  CUmemGenericAllocationHandle handle;
};

std::mutex& vmm_mutex() {
  static std::mutex m;
  return m;
}
std::map<uintptr_t, VmmBlock>& vmm_blocks() {
  static std::map<uintptr_t, VmmBlock> blocks;
  return blocks;
}

CUmemAllocationProp prop_for(int device) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  return prop;
}

void grant_access(uintptr_t at, size_t size, int device) {
  CUmemAccessDesc access{};
  access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  access.location.id = device;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  TDM_CU(cuda::driver().cuMemSetAccess(at, size, &access, 1));
}

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

void* vmm_alloc(size_t bytes) {
  auto& d = cuda::driver();
  int device = 0;
  TDM_CUDA(cudaGetDevice(&device));
  CUmemAllocationProp prop = prop_for(device);
  size_t granularity = 0;
  TDM_CU(
      d.cuMemGetAllocationGranularity(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
  const size_t size = (bytes + granularity - 1) / granularity * granularity;
  CUmemGenericAllocationHandle handle = 0;
  TDM_CU(d.cuMemCreate(&handle, size, &prop, 0));
  CUdeviceptr at = 0;
  CUresult r = d.cuMemAddressReserve(&at, size, granularity, 0, 0);
  if (r == CUDA_SUCCESS) r = d.cuMemMap(at, size, 0, handle, 0);
  if (r != CUDA_SUCCESS) {
    if (at) d.cuMemAddressFree(at, size);
    d.cuMemRelease(handle);
    TDM_CU(r);
  }
  grant_access(at, size, device);
  std::lock_guard lock(vmm_mutex());
  vmm_blocks()[at] = {size, handle};
  return reinterpret_cast<void*>(at);
}

bool vmm_free(void* ptr) {
  VmmBlock block{};
  {
    std::lock_guard lock(vmm_mutex());
    auto it = vmm_blocks().find(reinterpret_cast<uintptr_t>(ptr));
    if (it == vmm_blocks().end()) return false;
    block = it->second;
    vmm_blocks().erase(it);
  }
  auto& d = cuda::driver();
  cudaDeviceSynchronize();
  const auto at = reinterpret_cast<CUdeviceptr>(ptr);
  d.cuMemUnmap(at, block.size);
  d.cuMemRelease(block.handle);
  d.cuMemAddressFree(at, block.size);
  return true;
}

Export describe(const void* buff, size_t size) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, buff) != cudaSuccess ||
      attributes.type != cudaMemoryTypeDevice) {
    cudaGetLastError();
    throw_error(tdmInvalidArgument, "buffer ", buff, " is not CUDA device memory");
  }
  const auto p = reinterpret_cast<uintptr_t>(buff);
  {
    std::lock_guard lock(vmm_mutex());
    auto it = vmm_blocks().upper_bound(p);
    if (it != vmm_blocks().begin()) {
      --it;
      if (p + size <= it->first + it->second.size)
        return {Export::kVmm, it->first, it->second.size, p - it->first, it->second.handle};
    }
  }
  CUdeviceptr base = 0;
  size_t span = 0;
  TDM_CU(cuda::driver().cuMemGetAddressRange(&base, &span, static_cast<CUdeviceptr>(p)));
  if (p + size > base + span)
    throw_error(tdmInvalidArgument, "buffer of ", size, " bytes runs past its allocation");
  return {Export::kIpc, static_cast<uintptr_t>(base), span, p - base, 0};
}

std::unique_ptr<Window> Window::create(Comm& comm, void* buff, size_t size) {
  if (!comm.engine)
    throw_error(tdmInvalidUsage, "windows need the CUDA engine (a CUDA device on every rank)");
  const Export ex = describe(buff, size);
  std::unique_ptr<Window> w(new Window(comm));
  Entry mine{};
  mine.kind = ex.kind;
  mine.pid = getpid();
  mine.base = ex.base;
  mine.span = ex.span;
  mine.offset = ex.offset;
  mine.size = size;
  if (ex.kind == Export::kIpc)
    TDM_CUDA(cudaIpcGetMemHandle(&mine.ipc, reinterpret_cast<void*>(ex.base)));
  auto entries = comm.boot->allgather_value(mine);
  mem::SymmetricHeap& heap = comm.engine->heap();
  const auto& local = heap.local_ranks();
  const uint64_t tag = heap.next_tag();
  auto& d = cuda::driver();
  const Deadline deadline = comm.boot->deadline();
  Fd exported;
  if (ex.kind == Export::kVmm) {
    int fd = -1;
    TDM_CU(d.cuMemExportToShareableHandle(&fd, ex.vmm_handle,
                                          CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    exported = Fd(fd);
    for (int r : local)
      if (r != comm.rank && entries[r].pid != mine.pid)
        heap.fd_passing().send(r, tag, exported.get(), deadline);
  }
  w->bases_.assign(comm.nranks, 0);
  w->sizes_.resize(comm.nranks);
  for (int r = 0; r < comm.nranks; ++r) w->sizes_[r] = entries[r].size;
  for (int r : local) {
    const Entry& e = entries[r];
    if (r == comm.rank || e.pid == mine.pid) {
      w->bases_[r] = e.base + e.offset;  // same process: the address is valid here
      continue;
    }
    if (e.kind == Export::kIpc) {
      void* opened = nullptr;
      TDM_CUDA(cudaIpcOpenMemHandle(&opened, e.ipc, cudaIpcMemLazyEnablePeerAccess));
      w->ipc_opened_.push_back(opened);
      w->bases_[r] = reinterpret_cast<uintptr_t>(opened) + e.offset;
      continue;
    }
    Fd fd = heap.fd_passing().receive(r, tag, deadline);
    CUmemGenericAllocationHandle handle = 0;
    TDM_CU(d.cuMemImportFromShareableHandle(
        &handle, reinterpret_cast<void*>(static_cast<uintptr_t>(fd.get())),
        CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR));
    CUdeviceptr at = 0;
    CUresult res = d.cuMemAddressReserve(&at, e.span, 0, 0, 0);
    if (res == CUDA_SUCCESS) res = d.cuMemMap(at, e.span, 0, handle, 0);
    if (res != CUDA_SUCCESS) {
      if (at) d.cuMemAddressFree(at, e.span);
      d.cuMemRelease(handle);
      TDM_CU(res);
    }
    w->mappings_.push_back({static_cast<uintptr_t>(at), e.span, handle});
    grant_access(at, e.span, comm.cuda_device);
    w->bases_[r] = at + e.offset;
  }
  TDM_CUDA(
      cudaMalloc(reinterpret_cast<void**>(&w->device_bases_), sizeof(uintptr_t) * comm.nranks));
  TDM_CUDA(cudaMemcpy(w->device_bases_, w->bases_.data(), sizeof(uintptr_t) * comm.nranks,
                      cudaMemcpyHostToDevice));
  comm.boot->barrier();  // every rank mapped before anyone writes through the window
  return w;
}

Window::~Window() {
  cudaDeviceSynchronize();
  auto& d = cuda::driver();
  for (const Mapping& m : mappings_) {
    d.cuMemUnmap(m.address, m.size);
    d.cuMemRelease(m.handle);
    d.cuMemAddressFree(m.address, m.size);
  }
  for (void* p : ipc_opened_) cudaIpcCloseMemHandle(p);
  if (device_bases_) cudaFree(device_bases_);
  cudaGetLastError();
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

char* Window::local() const { return reinterpret_cast<char*>(bases_[comm_.rank]); }

tdmWindowDevice_t Window::device_handle() const {
  tdmWindowDevice_t h{};
  h.my_pe = comm_.rank;
  h.n_pes = comm_.nranks;
  h.size = sizes_[comm_.rank];
  h.peer_bases = device_bases_;
  return h;
}

}  // namespace tdm::mem
#endif
