// Group semantics: calls between tdmGroupStart and tdmGroupEnd are queued per
// thread and run together at the outermost tdmGroupEnd; outside a group each
// call runs at once. Point-to-point calls of one communicator progress
// together (any pairing pattern completes); collectives follow in call order;
// several communicators progress interleaved.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "plan/call.h"

namespace tdm {
struct Comm;
}

namespace tdm::group {

void start();
// Closes a group level; at the outermost, runs what was queued through
// `wrap(comms, run)` (so the caller can hold the communicators busy) and throws
// the first error.
using Wrapper = std::function<void(std::span<Comm* const>, const std::function<void()>&)>;
void end_with(const Wrapper& wrap);
bool active();
// Closes a group level as end_with does; at the outermost, drops what was
// queued without running it (tdmGroupSimulateEnd). Queued communicator
// inits are refused (they would leave handles unset).
void end_without_running();

// Runs now, or queues when inside a group.
void submit(const plan::Call& call);
// Communicator initializations inside a group run in parallel threads at end().
void submit_init(std::function<void()> init);
// A call inside the group failed validation: end() discards the group and reports this.
void poison(const std::string& reason);

// Runs calls (possibly of several communicators) to completion.
void run(std::span<const plan::Call> calls);

}  // namespace tdm::group
