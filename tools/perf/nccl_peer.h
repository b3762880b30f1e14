// NCCL as the peer library of the device-memory comparison (-M 1 with
// --mem cuda): loaded at run time, so neither nccl.h nor libnccl is needed to
// build. Only built with TANDEM_HAVE_CUDA.
#ifndef TANDEM_TOOLS_PERF_NCCL_PEER_H_
#define TANDEM_TOOLS_PERF_NCCL_PEER_H_

#include <memory>
#include <string>

#include "common.h"

namespace tandem::perf {

class PeerLib : public Lib {
 public:
  // NCCL_VERSION_CODE of the loaded library, and where it was loaded from.
  virtual int version() const = 0;
  virtual const std::string& path() const = 0;
  // Null when the peer runs this type (and premulsum op), else why not.
  virtual const char* unsupported(tdmDataType_t type, bool preMulSum) const = 0;
};

// Collective over `tandem`'s ranks, each with its CUDA device current: loads
// libnccl.so.2 (or $TANDEM_NCCL_LIBRARY) with NVLink SHARP off
// (NCCL_NVLS_ENABLE=0), then creates an NCCL communicator of the same ranks;
// rank 0's unique id travels by tdmBroadcast on host memory. Throws on every
// rank when any rank fails to load it.
std::unique_ptr<PeerLib> openNccl(tdmComm_t tandem);

// openNccl for tools whose NCCL columns are optional (fused_perf, ep_perf):
// null when NCCL cannot be loaded, and rank `rank` 0 says why.
std::unique_ptr<PeerLib> openNcclIfAvailable(tdmComm_t tandem, int rank);

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_NCCL_PEER_H_
