// Argument checks of the C API: a bad argument is an exception with a
// sentence, thrown before anything changes. validate() turns a collective or
// point-to-point call's arguments into a plan::Call, reading what each kind
// takes from the facts table (plan/collective.h).
#pragma once

#include <cstddef>

#include "comm/comm.h"
#include "plan/call.h"
#include "tandem/tandem.h"

namespace tdm::api {

void check_not_null(const void* p, const char* name);
void check_type(tdmDataType_t type);
// Built in, or a live premulsum op of `comm` made for `type`.
void check_op(Comm& comm, tdmRedOp_t op, tdmDataType_t type);
void check_rank_arg(const Comm& comm, int r, const char* name);

// The call, ready to submit; `root` is the peer of send/recv.
plan::Call validate(plan::CallKind kind, Comm& comm, const void* send, void* recv, size_t count,
                    tdmDataType_t type, tdmRedOp_t op, int root, cudaStream_t stream);

}  // namespace tdm::api
