#include "fused/signal.h"

#include "device/driver.h"
#include "fused/kernels.h"

namespace tdm::fused {

namespace {
CUdeviceptr as_cu(uint32_t* p) { return reinterpret_cast<CUdeviceptr>(p); }
}  // namespace

void raise_flag(uint32_t* flag, cudaStream_t stream, FlagMethod method) {
  if (method == FlagMethod::kKernel) {
    TDM_CUDA(launch_raise_flag(flag, stream));
    return;
  }
  TDM_CU(
      device::driver().cuStreamWriteValue32(stream, as_cu(flag), 1, CU_STREAM_WRITE_VALUE_DEFAULT));
}

void await_flag(uint32_t* flag, cudaStream_t stream, FlagMethod method) {
  if (method == FlagMethod::kKernel) {
    TDM_CUDA(launch_await_flag(flag, stream));
    return;
  }
  const device::Driver& d = device::driver();
  TDM_CU(d.cuStreamWaitValue32(stream, as_cu(flag), 1, CU_STREAM_WAIT_VALUE_EQ));
  TDM_CU(d.cuStreamWriteValue32(stream, as_cu(flag), 0, CU_STREAM_WRITE_VALUE_DEFAULT));
}

}  // namespace tdm::fused
