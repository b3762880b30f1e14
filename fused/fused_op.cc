#include "fused/fused_op.h"

#include "comm/cuda_side.h"
#include "fused/ag_gemm.h"
#include "fused/gemm_ar.h"
#include "fused/gemm_rs.h"
#include "util/error.h"

namespace tdm::fused {

std::unique_ptr<FusedOp> create(Kind kind, Comm& comm, const tdmGemmShape_t& shape) {
  if (!cuda_side::has_engine(comm))
    throw_error(tdmInvalidUsage, "the fused ", kind_name(kind),
                " op needs a communicator with the CUDA engine (a current CUDA device on every "
                "rank when it was created)");
  switch (kind) {
    case Kind::kAgGemm:
      return make_ag_gemm(comm, shape);
    case Kind::kGemmRs:
      return make_gemm_rs(comm, shape);
    case Kind::kGemmAr:
      return make_gemm_ar(comm, shape);
  }
  throw_error(tdmInternalError, "unknown fused op kind");
}

}  // namespace tdm::fused
