// Turns calls into plans. Algorithms:
//   allreduce: one-shot (every rank sends its vector to every peer and reduces
//   in rank order; latency), ring reduce-scatter + allgather (bandwidth), and
//   hierarchical (reduce inside each host, ring across hosts, broadcast back)
//   when ranks span hosts. Allgather / reduce-scatter: ring. Broadcast and
//   reduce: pipelined chain along the ring. Gather, scatter, all-to-all and
//   grouped send/recv: direct exchanges that progress together.
#pragma once

#include <span>

#include "collectives/call.h"
#include "plan/plan.h"

namespace tdm::collectives {

enum class AllReduceAlgorithm { kOneShot, kRing, kHierarchical };
const char* algorithm_name(AllReduceAlgorithm algorithm);

// TANDEM_ALLREDUCE_ALGO=oneshot|ring|hier overrides; otherwise one-shot up to
// TANDEM_ONESHOT_MAX_BYTES (default 32 KiB), hierarchical across hosts, ring.
// Both knobs are read at init and agreed across ranks (see Comm::Tuning).
AllReduceAlgorithm choose_allreduce(const Comm& comm, size_t bytes);
int allreduce_algorithm_from_env();  // -1 when unset

// The plan of one collective call (not send/recv).
plan::Plan build_collective(const Call& call);
// The plan of a group's point-to-point calls on one communicator, in call order.
plan::Plan build_point_to_point(Comm& comm, std::span<const Call> calls);

}  // namespace tdm::collectives
