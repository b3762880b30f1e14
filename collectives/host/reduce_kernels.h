// Element-wise kernels of the CPU engine. Narrow floats (fp16, bf16, fp8)
// compute in float and round back to nearest even after every operation, as
// NCCL's kernels do; integers wrap. Buffers of a call are either the same
// buffer or disjoint (partial overlap is not supported).
#pragma once

#include <cstddef>

#include "plan/reduction.h"
#include "tandem/tandem.h"

namespace tdm::host {

using ReduceOp = plan::ReduceKind;  // one enum for both engines

// dst[i] = a[i] op b[i]; dst may alias a or b (or both) exactly. Floating max/min
// follow fmax/fmin: a NaN operand is ignored unless both are NaN.
void reduce(tdmDataType_t type, ReduceOp op, void* dst, const void* a, const void* b, size_t count);
// dst[i] = src[i] * (*scalar), scalar being one value of `type` (premulsum); dst may alias src.
void scale(tdmDataType_t type, void* dst, const void* src, size_t count, const void* scalar);
// data[i] /= divisor (avg), divisor >= 1: integers truncate toward zero in their own
// signedness; narrow floats and float divide in float, double in double.
void divide(tdmDataType_t type, void* data, size_t count, int divisor);

}  // namespace tdm::host
