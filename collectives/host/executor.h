// Runs plans on host memory: the CPU moves and reduces the bytes. Plans of
// several communicators (a group over comms created by tdmCommInitAll) run
// interleaved in the calling thread, so none waits on another.
#pragma once

#include <span>
#include <vector>

#include "plan/call.h"
#include "plan/plan.h"

namespace tdm::host {

// Runs each queue's plans in order and the queues side by side (one queue per
// communicator). Returns when all are complete. Throws tdm::Error on a dead or
// silent peer (TANDEM_TIMEOUT without progress) or an aborted communicator.
void execute(std::span<std::vector<plan::Plan>> queues);

// A lone call that goes through the team's slots (slots.h: small allreduce
// and all-to-all), run at once without building a plan (nothing allocated:
// what an 8-byte allreduce notices); false, doing nothing, for any other call.
bool run_slots_call(const plan::Call& call);

}  // namespace tdm::host
