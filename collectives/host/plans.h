// Turns calls on host memory into plans (src/plan/plan.h). Algorithms:
//   allreduce: one-shot, ring reduce-scatter + allgather, or hierarchical, as
//   src/plan/algorithm_choice.h picks. Allgather / reduce-scatter: ring.
//   Broadcast and reduce: pipelined chain along the ring. Gather, scatter,
//   all-to-all and grouped send/recv: direct exchanges that progress together.
#pragma once

#include <span>

#include "plan/call.h"
#include "plan/plan.h"

namespace tdm::host {

// How a call's elements combine (type, op, premulsum scalar, avg divisor).
plan::Reduction reduction_for(const plan::Call& call);
// Whether a call goes through the team's shared slots (slots.h): a one-shot
// allreduce, or an all-to-all, that fits them.
bool uses_slots(const plan::Call& call);

// The plan of one collective call (not send/recv).
plan::Plan build_collective(const plan::Call& call);
// The plan of a group's point-to-point calls on one team, in call order.
plan::Plan build_point_to_point(plan::Team& team, std::span<const plan::Call> calls);

}  // namespace tdm::host
