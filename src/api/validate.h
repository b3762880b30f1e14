// Argument checks of the C API: a bad argument is an exception with a
// sentence, thrown before anything changes. validate() turns a collective or
// point-to-point call's arguments into a plan::Call, reading what each kind
// takes from the facts table (plan/collective.h).
#pragma once

#include <cstddef>
#include <cstring>

#include "comm/comm.h"
#include "plan/call.h"
#include "tandem/tandem.h"

namespace tdm::api {

// An enum argument as the int a C caller passed, copied rather than loaded as
// the enum: C allows any int there, while a C++ load of a value outside the
// enumerators' range is undefined (UBSan's enum check; -fstrict-enums would
// drop range checks made on the enum). Take it by reference in the entry point
// itself: passing the enum on by value is already such a load.
template <typename Enum>
int enum_arg(const Enum& arg) {
  static_assert(sizeof(Enum) == sizeof(int), "a C enum is passed as an int");
  int value = 0;
  std::memcpy(&value, &arg, sizeof value);
  return value;
}

void check_not_null(const void* p, const char* name);
// Not null and CUDA device memory, or tdmInvalidArgument saying so (`takes`
// names who takes it in the sentence: "the fused ops").
void check_device_buffer(const void* p, const char* name, const char* takes);
// The integer as the enum, or tdmInvalidArgument naming it.
tdmDataType_t checked_type(int type);
// Built in, or a live premulsum op of `comm` made for `type`.
tdmRedOp_t checked_op(Comm& comm, int op, tdmDataType_t type);
void check_rank_arg(const Comm& comm, int r, const char* name);

// The call, ready to submit; `root` is the peer of send/recv; `type` and `op`
// as passed (enum_arg), checked here.
plan::Call validate(plan::CallKind kind, Comm& comm, const void* send, void* recv, size_t count,
                    int type, int op, int root, cudaStream_t stream);

}  // namespace tdm::api
