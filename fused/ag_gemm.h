// AllGather-GEMM: C[m, n] = AllGather_rows(A_shard[m/nranks, k]) * B.
#pragma once

#include <memory>

#include "fused/fused_op.h"

namespace tdm::fused {

// Collective over `comm`.
std::unique_ptr<FusedOp> make_ag_gemm(Comm& comm, const tdmGemmShape_t& shape);

}  // namespace tdm::fused
