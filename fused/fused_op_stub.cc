// The fused ops in a build without CUDA: none can be created, and the
// refusal says why.
#include "fused/fused_op.h"
#include "util/error.h"

namespace tdm::fused {

std::unique_ptr<FusedOp> create(Kind kind, Comm&, const tdmGemmShape_t&) {
  throw_error(tdmInvalidUsage, "this build of Tandem has no CUDA support, hence no fused ",
              kind_name(kind), " op");
}

}  // namespace tdm::fused
