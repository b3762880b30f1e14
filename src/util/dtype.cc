#include "util/dtype.h"

namespace tdm {

bool is_valid_type(int type) { return type >= 0 && type < tdmNumTypes; }

size_t type_size(tdmDataType_t type) {
  static constexpr size_t sizes[tdmNumTypes] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return is_valid_type(type) ? sizes[type] : 0;
}

const char* type_name(tdmDataType_t type) {
  static constexpr const char* names[tdmNumTypes] = {"int8",   "uint8",    "int32",  "uint32",
                                                     "int64",  "uint64",   "half",   "float",
                                                     "double", "bfloat16", "f8e4m3", "f8e5m2"};
  return is_valid_type(type) ? names[type] : "invalid";
}

bool is_floating(tdmDataType_t type) {
  return type == tdmFloat16 || type == tdmFloat32 || type == tdmFloat64 || type == tdmBfloat16 ||
         type == tdmFloat8e4m3 || type == tdmFloat8e5m2;
}

const char* op_name(int op) {
  static constexpr const char* names[tdmNumOps] = {"sum", "prod", "max", "min", "avg"};
  if (op >= 0 && op < tdmNumOps) return names[op];
  return op >= tdmNumOps ? "premulsum" : "invalid";
}

}  // namespace tdm
