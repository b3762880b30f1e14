#include "device/memory.h"

#include "device/driver.h"

namespace tdm::device {

void DeviceFree::operator()(void* p) const {
  if (p && cudaFree(p) != cudaSuccess) cudaGetLastError();
}

void PinnedFree::operator()(void* p) const {
  if (p && cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
}

void IpcClose::operator()(void* p) const {
  if (p && cudaIpcCloseMemHandle(p) != cudaSuccess) cudaGetLastError();
}

DeviceMemory device_alloc(size_t bytes) {
  void* p = nullptr;
  TDM_CUDA(cudaMalloc(&p, bytes));
  return DeviceMemory(p);
}

MappedHostMemory mapped_host_alloc(size_t bytes) {
  void* p = nullptr;
  TDM_CUDA(cudaHostAlloc(&p, bytes, cudaHostAllocMapped));
  return MappedHostMemory(p);
}

IpcMapping ipc_open(const cudaIpcMemHandle_t& handle) {
  void* p = nullptr;
  TDM_CUDA(cudaIpcOpenMemHandle(&p, handle, cudaIpcMemLazyEnablePeerAccess));
  return IpcMapping(p);
}

DeviceMemory device_copy_of(const void* host, size_t bytes) {
  DeviceMemory memory = device_alloc(bytes);
  TDM_CUDA(cudaMemcpy(memory.get(), host, bytes, cudaMemcpyHostToDevice));
  return memory;
}

}  // namespace tdm::device
