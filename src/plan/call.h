// One validated collective or point-to-point call, as the C API received it.
#pragma once

#include <array>
#include <cstddef>

#include "plan/collective.h"
#include "tandem/tandem.h"

namespace tdm::plan {

struct Team;

struct Call {
  CallKind kind = CallKind::kAllReduce;
  Team* team = nullptr;
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;  // NCCL's count argument (per rank where NCCL says so)
  tdmDataType_t type = tdmFloat32;
  tdmRedOp_t op = tdmSum;
  int root = 0;  // root for rooted collectives, peer for send/recv
  // Premulsum: resolved when the call is made, so the op may be destroyed as
  // soon as the call returns (even inside a group, as NCCL allows).
  std::array<std::byte, 8> scalar{};
  const void* scalar_pointer = nullptr;  // tdmScalarDevice residence: read when it runs
  // CUDA buffers: enqueued on `stream` by the CUDA engine; host buffers run on the CPU.
  bool device = false;
  cudaStream_t stream = nullptr;
};

inline bool is_point_to_point(const Call& call) { return facts(call.kind).point_to_point; }

}  // namespace tdm::plan
