// Element-wise kernels of the CPU engine. Narrow floats (fp16, bf16, fp8)
// compute in float and round back to nearest even after every operation, as
// NCCL's kernels do; integers wrap.
#pragma once

#include <cstddef>

#include "tandem/tandem.h"

namespace tdm::host {

enum class ReduceOp { kSum, kProd, kMax, kMin };

// dst[i] = a[i] op b[i]; dst may alias a or b exactly.
void reduce(tdmDataType_t type, ReduceOp op, void* dst, const void* a, const void* b, size_t count);
// dst[i] = src[i] * (*scalar), scalar being one value of `type` (premulsum).
void scale(tdmDataType_t type, void* dst, const void* src, size_t count, const void* scalar);
// data[i] /= divisor (avg): integers truncate, floats divide in their math type.
void divide(tdmDataType_t type, void* data, size_t count, int divisor);

}  // namespace tdm::host
