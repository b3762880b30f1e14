#include "device/device_query.h"

#if TANDEM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include <cctype>

namespace tdm::device {

int cuda_device_count() {
#if TANDEM_HAVE_CUDA
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device" error
      return 0;
    }
    return n;
  }();
  return count;
#else
  return 0;
#endif
}

int current_cuda_device() {
#if TANDEM_HAVE_CUDA
  if (cuda_device_count() == 0) return -1;
  int device = -1;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  return device;
#else
  return -1;
#endif
}

void set_cuda_device(int device) {
#if TANDEM_HAVE_CUDA
  if (cuda_device_count() > 0 && cudaSetDevice(device) != cudaSuccess) cudaGetLastError();
#else
  (void)device;
#endif
}

void cuda_device_busid(char* out, int size) {
  out[0] = '\0';
#if TANDEM_HAVE_CUDA
  int device = current_cuda_device();
  if (device < 0 || cudaDeviceGetPCIBusId(out, size, device) != cudaSuccess) {
    cudaGetLastError();
    out[0] = '\0';
    return;
  }
  for (char* c = out; *c; ++c) *c = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
#else
  (void)size;
#endif
}

MemoryType memory_type(const void* ptr) {
#if TANDEM_HAVE_CUDA
  if (ptr == nullptr || cuda_device_count() == 0) return MemoryType::kHost;
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
    cudaGetLastError();
    return MemoryType::kHost;
  }
  if (attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged)
    return MemoryType::kCuda;
#else
  (void)ptr;
#endif
  return MemoryType::kHost;
}

}  // namespace tdm::device
