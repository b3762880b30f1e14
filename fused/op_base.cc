#include "fused/op_base.h"

#include <span>

#include "comm/cuda_side.h"
#include "plan/call.h"
#include "util/log.h"

namespace tdm::fused {

OpBase::OpBase(Kind kind, Comm& comm, const tdmGemmShape_t& shape, size_t events)
    : FusedOp(kind, comm, shape),
      rank_(comm.rank),
      nranks_(comm.nranks),
      elem_(2),
      settings_(agreed_settings(comm)),
      gemm_(shape.dtype, shape.b_transposed != 0, shape.n, shape.k),
      side_(make_priority_stream()),
      fork_(make_event()),
      join_(make_event()) {
  events_.reserve(events);
  for (size_t i = 0; i < events; ++i) events_.push_back(make_event());
}

bool OpBase::fused_for(size_t m) const {
  if (settings_.mode != Mode::kAuto) return settings_.mode == Mode::kFused;
  if (kind() == Kind::kGemmAr) return m * shape().n * elem_ >= settings_.ar_min_bytes;
  if (!auto_fused_) return false;
  return m / static_cast<size_t>(nranks_) >= static_cast<size_t>(settings_.min_rows);
}

void OpBase::decide(bool fused_wins, double fused_us, double seq_us) {
  const int32_t mine = fused_wins ? 1 : 0;
  auto_fused_ = comm().boot->allgather_value(mine).at(0) != 0;
  TDM_INFO("CUDA", kind_name(kind()), " max_m ", shape().max_m, " n ", shape().n, " k ", shape().k,
           ": estimated fused ", fused_us, " us, sequential ", seq_us, " us; auto takes ",
           auto_fused_ ? "the fused path" : "the sequential pair");
}

void OpBase::collective(plan::CallKind kind, const void* send, void* recv, size_t count,
                        cudaStream_t stream) {
  plan::Call call;
  call.kind = kind;
  call.team = &comm();
  call.send = send;
  call.recv = recv;
  call.count = count;
  call.type = shape().dtype;
  call.op = tdmSum;
  call.device = true;
  call.stream = stream;
  cuda_side::enqueue(std::span(&call, 1));
}

}  // namespace tdm::fused
