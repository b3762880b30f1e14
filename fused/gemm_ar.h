// GEMM-AllReduce: C[m, n] = AllReduce(A[m, k] * B).
#pragma once

#include <memory>

#include "fused/fused_op.h"

namespace tdm::fused {

// Collective over `comm`.
std::unique_ptr<FusedOp> make_gemm_ar(Comm& comm, const tdmGemmShape_t& shape);

}  // namespace tdm::fused
