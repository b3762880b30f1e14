#include "device/device_query.h"

#include <cuda_runtime_api.h>

#include <cctype>

namespace tdm::device {

int cuda_device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device" error
      return 0;
    }
    return n;
  }();
  return count;
}

int current_cuda_device() {
  if (cuda_device_count() == 0) return -1;
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  return device;
}

void set_cuda_device(int device) {
  if (cuda_device_count() > 0 && cudaSetDevice(device) != cudaSuccess) cudaGetLastError();
}

void cuda_device_busid(char* out, int size) {
  out[0] = '\0';
  int device = current_cuda_device();
  if (device < 0 || cudaDeviceGetPCIBusId(out, size, device) != cudaSuccess) {
    cudaGetLastError();
    out[0] = '\0';
    return;
  }
  for (char* c = out; *c; ++c) *c = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
}

MemoryType memory_type(const void* ptr) {
  if (ptr == nullptr || cuda_device_count() == 0) return MemoryType::kHost;
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    cudaGetLastError();
    return MemoryType::kHost;
  }
  if (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged)
    return MemoryType::kCuda;
  return MemoryType::kHost;
}

}  // namespace tdm::device
