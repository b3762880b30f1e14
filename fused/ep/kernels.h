// The kernels of an ep (kernels.cu; docs/ep.md), one launch per call and
// phase mask; each returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fused/ep/ep_device.cuh"
#include "tandem/ep.h"

namespace tdm::fused::ep {

struct Launch {
  int blocks = 1;  // the device's multiprocessors
  cudaStream_t stream = nullptr;
};

// `phase`: TDM_EP_SEND, TDM_EP_RECV or TDM_EP_BOTH (one kernel for both).
cudaError_t launch_dispatch(const EpDevice& d, int phase, const void* x, const int64_t* topk_idx,
                            int T, int K, void* recv_x, float* recv_scales, int32_t* recv_count,
                            const Launch& at);
cudaError_t launch_combine(const EpDevice& d, int phase, const void* y, const int64_t* topk_idx,
                           const float* weights, int T, int K, void* out, const Launch& at);

}  // namespace tdm::fused::ep
