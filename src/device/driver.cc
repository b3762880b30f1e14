#include "device/driver.h"

#include "util/error.h"

namespace tdm::device {

namespace {

template <typename F>
void resolve(F& fn, const char* symbol) {
  void* address = nullptr;
  cudaDriverEntryPointQueryResult status{};
  cudaError_t err =
      cudaGetDriverEntryPointByVersion(symbol, &address, 12000, cudaEnableDefault, &status);
  if (err != cudaSuccess || status != cudaDriverEntryPointSuccess || address == nullptr) {
    cudaGetLastError();
    throw_error(tdmUnhandledCudaError, "the CUDA driver does not provide ", symbol,
                " (driver too old, or no driver installed)");
  }
  fn = reinterpret_cast<F>(address);
}

Driver load() {
  Driver d{};
  resolve(d.cuMemGetAllocationGranularity, "cuMemGetAllocationGranularity");
  resolve(d.cuMemCreate, "cuMemCreate");
  resolve(d.cuMemRelease, "cuMemRelease");
  resolve(d.cuMemAddressReserve, "cuMemAddressReserve");
  resolve(d.cuMemAddressFree, "cuMemAddressFree");
  resolve(d.cuMemMap, "cuMemMap");
  resolve(d.cuMemUnmap, "cuMemUnmap");
  resolve(d.cuMemSetAccess, "cuMemSetAccess");
  resolve(d.cuMemExportToShareableHandle, "cuMemExportToShareableHandle");
  resolve(d.cuMemImportFromShareableHandle, "cuMemImportFromShareableHandle");
  resolve(d.cuMemRetainAllocationHandle, "cuMemRetainAllocationHandle");
  resolve(d.cuMemGetAddressRange, "cuMemGetAddressRange");
  resolve(d.cuPointerGetAttribute, "cuPointerGetAttribute");
  resolve(d.cuGetErrorString, "cuGetErrorString");
  resolve(d.cuDeviceGet, "cuDeviceGet");
  resolve(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  resolve(d.cuStreamWriteValue32, "cuStreamWriteValue32");
  resolve(d.cuStreamWaitValue32, "cuStreamWaitValue32");
  return d;
}

}  // namespace

const Driver& driver() {
  static const Driver d = load();
  return d;
}

void check(CUresult result, const char* what) {
  if (result == CUDA_SUCCESS) return;
  const char* text = "unknown driver error";
  driver().cuGetErrorString(result, &text);
  throw_error(tdmUnhandledCudaError, what, " failed: ", text, " (CUresult ", int(result), ")");
}

void check(cudaError_t result, const char* what) {
  if (result == cudaSuccess) return;
  cudaGetLastError();  // clear non-sticky errors so later calls are not blamed
  throw_error(tdmUnhandledCudaError, what, " failed: ", cudaGetErrorString(result));
}

}  // namespace tdm::device
