// Facts about tdmDataType_t and tdmRedOp_t values.
#pragma once

#include <cstddef>

#include "tandem/tandem.h"

namespace tdm {

bool is_valid_type(int type);
size_t type_size(tdmDataType_t type);
// nccl-tests' names: int8 uint8 int32 uint32 int64 uint64 half float double bfloat16 f8e4m3 f8e5m2.
const char* type_name(tdmDataType_t type);
bool is_floating(tdmDataType_t type);
// sum prod max min avg, or premulsum for ops made by tdmRedOpCreatePreMulSum.
const char* op_name(int op);

}  // namespace tdm
