// One validated collective or point-to-point call, as the C API received it.
#pragma once

#include <cstddef>

#include "tandem/tandem.h"

namespace tdm {

struct Comm;

enum class CallKind {
  kAllReduce,
  kBroadcast,
  kReduce,
  kAllGather,
  kReduceScatter,
  kAlltoAll,
  kGather,
  kScatter,
  kSend,
  kRecv,
};

const char* call_name(CallKind kind);

struct Call {
  CallKind kind = CallKind::kAllReduce;
  Comm* comm = nullptr;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;  // NCCL's count argument (per rank where NCCL says so)
  tdmDataType_t type = tdmFloat32;
  tdmRedOp_t op = tdmSum;
  int root = 0;  // root for rooted collectives, peer for send/recv
};

}  // namespace tdm
