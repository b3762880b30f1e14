// Owning handles for CUDA runtime resources: device memory, mapped pinned
// host memory and CUDA IPC mappings. Each frees on destruction (best effort:
// a failing free in a destructor is cleared, never thrown), moves, never copies.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

namespace tdm::device {

struct DeviceFree {
  void operator()(void* p) const;
};
struct PinnedFree {
  void operator()(void* p) const;
};
struct IpcClose {
  void operator()(void* p) const;
};

// cudaMalloc memory.
using DeviceMemory = std::unique_ptr<void, DeviceFree>;
// cudaHostAlloc(cudaHostAllocMapped) memory: the host address; the device
// sees it through cudaHostGetDevicePointer.
using MappedHostMemory = std::unique_ptr<void, PinnedFree>;
// A peer process's allocation opened with cudaIpcOpenMemHandle.
using IpcMapping = std::unique_ptr<void, IpcClose>;

// Throw tdmUnhandledCudaError on failure.
DeviceMemory device_alloc(size_t bytes);
MappedHostMemory mapped_host_alloc(size_t bytes);
IpcMapping ipc_open(const cudaIpcMemHandle_t& handle);
// Device memory holding a copy of `bytes` bytes at `host` (synchronous).
DeviceMemory device_copy_of(const void* host, size_t bytes);

}  // namespace tdm::device
