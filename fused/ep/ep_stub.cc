// Expert parallelism in a build without CUDA: no ep can be created, and the
// refusal says why.
#include "fused/ep/ep.h"
#include "util/error.h"

namespace tdm::fused::ep {

std::unique_ptr<Ep> create(Comm&, const tdmEpConfig_t&, const Layout&) {
  throw_error(tdmInvalidUsage,
              "this build of Tandem has no CUDA support, hence no expert-parallel dispatch and "
              "combine");
}

}  // namespace tdm::fused::ep
