#include "comm/group.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/cuda/engine.h"
#include "collectives/host/executor.h"
#include "comm/comm.h"
#include "util/error.h"

namespace tdm::group {

namespace {

struct GroupState {
  int depth = 0;
  std::vector<Call> calls;
  std::vector<std::function<void()>> inits;
  std::string poison;
};

thread_local GroupState t_group;

}  // namespace

bool active() { return t_group.depth > 0; }

void start() { ++t_group.depth; }

void poison(const std::string& reason) {
  if (t_group.poison.empty()) t_group.poison = reason;
}

void submit(const Call& call) {
  if (active()) {
    t_group.calls.push_back(call);
    return;
  }
  run(std::span(&call, 1));
}

void submit_init(std::function<void()> init) { t_group.inits.push_back(std::move(init)); }

void end_with(const Wrapper& wrap) {
  if (t_group.depth == 0)
    throw_error(tdmInvalidUsage, "tdmGroupEnd called without a matching tdmGroupStart");
  if (--t_group.depth > 0) return;
  GroupState state = std::move(t_group);
  t_group = GroupState{};
  if (!state.poison.empty())
    throw_error(tdmInvalidUsage,
                "the group was discarded because a call inside it failed: ", state.poison);
  if (!state.inits.empty()) {
    // Ranks initialized from one thread must rendezvous concurrently.
    std::vector<std::exception_ptr> errors(state.inits.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < state.inits.size(); ++i)
      threads.emplace_back([&, i] {
        try {
          state.inits[i]();
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  if (state.calls.empty()) return;
  std::vector<Comm*> comms;
  for (const Call& call : state.calls)
    if (std::find(comms.begin(), comms.end(), call.comm) == comms.end()) comms.push_back(call.comm);
  wrap(comms, [&] { run(state.calls); });
}

namespace {

[[maybe_unused]] bool is_p2p(const Call& call) { return call.kind == CallKind::kSend || call.kind == CallKind::kRecv; }

// CUDA buffers: collectives are enqueued in call order; a communicator's sends
// and receives become one launch, at the place of its first one.
void enqueue_device(std::span<const Call> calls) {
#if TANDEM_HAVE_CUDA
  std::vector<Comm*> p2p_done;
  for (const Call& call : calls) {
    if (!is_p2p(call)) {
      call.comm->engine->enqueue(call);
      continue;
    }
    if (std::find(p2p_done.begin(), p2p_done.end(), call.comm) != p2p_done.end()) continue;
    p2p_done.push_back(call.comm);
    std::vector<Call> p2p;
    for (const Call& c : calls)
      if (c.comm == call.comm && is_p2p(c)) p2p.push_back(c);
    call.comm->engine->enqueue_p2p(p2p);
  }
#else
  if (!calls.empty()) throw_error(tdmInvalidUsage, "this build of Tandem has no CUDA engine");
#endif
}

}  // namespace

void run(std::span<const Call> all) {
  std::vector<Call> device_calls, host_calls;
  for (const Call& call : all) (call.device ? device_calls : host_calls).push_back(call);
  enqueue_device(device_calls);
  if (host_calls.empty()) return;
  std::span<const Call> calls(host_calls);
  // One queue of plans per communicator, in order of first appearance.
  std::vector<Comm*> comms;
  for (const Call& call : calls)
    if (std::find(comms.begin(), comms.end(), call.comm) == comms.end()) comms.push_back(call.comm);
  std::vector<std::vector<plan::Plan>> queues(comms.size());
  for (size_t i = 0; i < comms.size(); ++i) {
    std::vector<Call> p2p;
    for (const Call& call : calls)
      if (call.comm == comms[i] && (call.kind == CallKind::kSend || call.kind == CallKind::kRecv))
        p2p.push_back(call);
    if (!p2p.empty()) queues[i].push_back(collectives::build_point_to_point(*comms[i], p2p));
    for (const Call& call : calls)
      if (call.comm == comms[i] && call.kind != CallKind::kSend && call.kind != CallKind::kRecv)
        queues[i].push_back(collectives::build_collective(call));
  }
  try {
    host::execute(queues);
  } catch (const Error& e) {
    // Partial traffic may sit in the links: the communicators cannot be trusted any more.
    for (Comm* comm : comms) {
      comm->async_error_text = e.what();
      comm->async_error.store(e.code() == tdmInvalidUsage ? tdmRemoteError : e.code());
    }
    throw;
  }
}

}  // namespace tdm::group
