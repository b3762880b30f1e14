// The fused ops' few kernels (kernels.cu): the fp32-accumulating sum of up to
// eight equal-shaped inputs (local or a peer's, read over NVLink), and the
// one-thread flag kernels behind TANDEM_FUSED_FLAGS=kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "tandem/tandem.h"

namespace tdm::fused {

constexpr int kMaxRanks = 8;

struct SumInputs {
  const void* src[kMaxRanks];
  int count;
};

// out[i] (and out2[i] when out2 is not null) = sum over j of in.src[j][i],
// i < elems, summed in float; `type` is tdmBfloat16 or tdmFloat16. `blocks`
// caps the grid (0: enough to cover the input, up to two per SM).
cudaError_t launch_sum(const SumInputs& in, void* out, void* out2, size_t elems, tdmDataType_t type,
                       int blocks, cudaStream_t stream);

cudaError_t launch_raise_flag(uint32_t* flag, cudaStream_t stream);
cudaError_t launch_await_flag(uint32_t* flag, cudaStream_t stream);

}  // namespace tdm::fused
