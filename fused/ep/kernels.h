// The four kernels of an ep, one per phase (kernels.cu; docs/ep.md): each
// launch returns the launch's error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fused/ep/ep_device.cuh"

namespace tdm::fused::ep {

struct Launch {
  int blocks = 1;  // the device's multiprocessors
  cudaStream_t stream = nullptr;
};

cudaError_t launch_dispatch_send(const EpDevice& d, const void* x, const int64_t* topk_idx, int T,
                                 int K, const Launch& at);
cudaError_t launch_dispatch_recv(const EpDevice& d, void* recv_x, float* recv_scales,
                                 int32_t* recv_count, const Launch& at);
cudaError_t launch_combine_send(const EpDevice& d, const void* y, const Launch& at);
cudaError_t launch_combine_recv(const EpDevice& d, const int64_t* topk_idx, const float* weights,
                                int T, int K, void* out, const Launch& at);

}  // namespace tdm::fused::ep
