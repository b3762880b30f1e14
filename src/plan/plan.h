// A plan is what one collective (or one group of point-to-point calls) on
// host memory turns into: a list of steps, each a set of primitive operations
// on links that progress together. The CPU engine builds and runs them
// (collectives/host); the CUDA engine launches kernels instead of plans.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "plan/reduction.h"
#include "tandem/tandem.h"

namespace tdm::plan {

struct Team;

// NCCL's primitive set: data flows from the inbound link and/or a local source
// to the outbound link and/or a local destination.
enum class Prim : uint8_t {
  kSend,                // src -> out
  kRecv,                // in -> dst
  kRecvReduce,          // src (+) in -> dst
  kRecvReduceSend,      // src (+) in -> out
  kRecvReduceCopySend,  // src (+) in -> dst, dst -> out
  kRecvCopySend,        // in -> dst, in -> out
  // In place with one peer: dst -> out and in -> dst over the same bytes,
  // never receiving a byte before it was sent (in-place all-to-all).
  kExchangeInPlace,
};

struct Op {
  Prim prim = Prim::kSend;
  int recv_peer = -1;
  int send_peer = -1;
  const std::byte* src = nullptr;
  std::byte* dst = nullptr;
  size_t bytes = 0;
  bool prescale = false;  // src is multiplied by the premulsum scalar before use
  bool finalize = false;  // the result is divided by the divisor (avg)
  // Progress, owned by the executor.
  size_t done = 0;
  bool padded = false;
  size_t sent = 0;           // kExchangeInPlace: bytes sent so far (done: received)
  bool sent_padded = false;  // kExchangeInPlace: the outbound message is complete
};

inline bool uses_inbound(Prim p) { return p != Prim::kSend; }
inline bool uses_outbound(Prim p) {
  return p == Prim::kSend || p == Prim::kRecvReduceSend || p == Prim::kRecvReduceCopySend ||
         p == Prim::kRecvCopySend || p == Prim::kExchangeInPlace;
}

struct Step {
  std::vector<Op> ops;
  // Local work run when the step starts, before its ops (copies, final reductions).
  std::function<void()> local;
  // When set, the step also waits until this holds (after its ops): flags
  // peers raise in shared memory (collectives/host/slots.h). It waits on
  // every peer.
  std::function<bool()> ready;
};

// How elements combine: the reduction kernel's op plus the premulsum scalar
// and the avg divisor.
struct Reduction {
  tdmDataType_t type = tdmUint8;
  ReduceKind kind = ReduceKind::kSum;
  std::array<std::byte, 8> scalar{};  // premulsum scalar, a value of `type`
  int divisor = 0;                    // avg: divide the final result by this
  size_t elem = 1;
};

struct Plan {
  Team* team = nullptr;
  Reduction reduction;
  std::vector<Step> steps;
  std::vector<std::vector<std::byte>> scratch;  // buffers the steps point into
  // Executor state.
  size_t step = 0;
  bool step_started = false;
};

}  // namespace tdm::plan
