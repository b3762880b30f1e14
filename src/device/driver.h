// The CUDA driver calls Tandem needs (cuMem VMM, stream memory operations), resolved at run time
// through the runtime's entry-point query so libtandem never links libcuda: it loads on machines
// without a GPU driver (CI) and fails only when CUDA is used.
#pragma once

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <string>

namespace tdm::device {

struct Driver {
  CUresult (*cuMemGetAllocationGranularity)(size_t*, const CUmemAllocationProp*,
                                            CUmemAllocationGranularity_flags);
  CUresult (*cuMemCreate)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                          unsigned long long);
  CUresult (*cuMemRelease)(CUmemGenericAllocationHandle);
  CUresult (*cuMemAddressReserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr, unsigned long long);
  CUresult (*cuMemAddressFree)(CUdeviceptr, size_t);
  CUresult (*cuMemMap)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
                       unsigned long long);
  CUresult (*cuMemUnmap)(CUdeviceptr, size_t);
  CUresult (*cuMemSetAccess)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t);
  CUresult (*cuMemExportToShareableHandle)(void*, CUmemGenericAllocationHandle,
                                           CUmemAllocationHandleType, unsigned long long);
  CUresult (*cuMemImportFromShareableHandle)(CUmemGenericAllocationHandle*, void*,
                                             CUmemAllocationHandleType);
  CUresult (*cuMemRetainAllocationHandle)(CUmemGenericAllocationHandle*, void*);
  CUresult (*cuMemGetAddressRange)(CUdeviceptr*, size_t*, CUdeviceptr);
  CUresult (*cuPointerGetAttribute)(void*, CUpointer_attribute, CUdeviceptr);
  CUresult (*cuGetErrorString)(CUresult, const char**);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
  // Stream memory operations: the fused ops' per-chunk flags, raised and
  // awaited by the stream itself (no SM, capturable in graphs).
  CUresult (*cuStreamWriteValue32)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
  CUresult (*cuStreamWaitValue32)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
};

// Resolved once; throws tdmUnhandledCudaError when the driver is missing.
const Driver& driver();

// Throws tdmUnhandledCudaError naming `what` when `result` is an error.
void check(CUresult result, const char* what);
void check(cudaError_t result, const char* what);

}  // namespace tdm::device

#define TDM_CU(call) ::tdm::device::check((call), #call)
#define TDM_CUDA(call) ::tdm::device::check((call), #call)
