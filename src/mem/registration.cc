#include "mem/registration.h"

#include "device/driver.h"
#include "mem/shareable_alloc.h"
#include "util/error.h"

namespace tdm::mem {

Export describe(const void* buff, size_t size) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, buff) != cudaSuccess ||
      attributes.type != cudaMemoryTypeDevice) {
    cudaGetLastError();
    throw_error(tdmInvalidArgument, "buffer ", buff, " is not CUDA device memory");
  }
  const auto p = reinterpret_cast<uintptr_t>(buff);
  if (auto block = find_shareable(buff, size))
    return {Export::kVmm, block->base, block->size, p - block->base, block->handle};
  CUdeviceptr base = 0;
  size_t span = 0;
  TDM_CU(device::driver().cuMemGetAddressRange(&base, &span, static_cast<CUdeviceptr>(p)));
  if (p + size > base + span)
    throw_error(tdmInvalidArgument, "buffer of ", size, " bytes runs past its allocation");
  return {Export::kIpc, static_cast<uintptr_t>(base), span, p - base, 0};
}

}  // namespace tdm::mem
