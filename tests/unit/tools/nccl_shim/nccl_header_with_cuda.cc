// The generated nccl.h after CUDA's runtime header, as nccl-tests includes
// them (its cudaStream_t and CUDA's must agree); compiled, not run.
#include <cuda_runtime.h>

#include "nccl.h"

static_assert(sizeof(cudaStream_t) == sizeof(void*));
#ifndef __CUDA_BF16_TYPES_EXIST__
#error "nccl.h must bring cuda_bf16.h when CUDA's headers are present, as NCCL's does"
#endif
