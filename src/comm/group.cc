#include "comm/group.h"

#include <algorithm>
#include <array>
#include <optional>
#include <thread>
#include <vector>

#include "collectives/host/executor.h"
#include "collectives/host/plans.h"
#include "comm/comm.h"
#include "comm/cuda_side.h"
#include "device/device_query.h"
#include "util/error.h"

namespace tdm::group {

using plan::Call;

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

void submit_init(std::function<void()> init) {
  // The init runs on a thread of its own at tdmGroupEnd, whose current CUDA
  // device is 0: it must see the device current when the caller asked
  // (nccl-tests -g and PyTorch create one communicator per device in a group).
  const int device = device::current_cuda_device();
  t_group.inits.push_back([device, init = std::move(init)] {
    if (device >= 0) device::set_cuda_device(device);
    init();
  });
}

namespace {
// Closes one group level for `caller`; at the outermost, takes what the group
// queued (nullopt below it), throwing when a call inside it failed.
std::optional<GroupState> close_level(const char* caller) {
  if (t_group.depth == 0)
    throw_error(tdmInvalidUsage, caller, " called without a matching tdmGroupStart");
  if (--t_group.depth > 0) return std::nullopt;
  GroupState state = std::move(t_group);
  t_group = GroupState{};
  if (!state.poison.empty())
    throw_error(tdmInvalidUsage,
                "the group was discarded because a call inside it failed: ", state.poison);
  return state;
}
}  // namespace

void end_with(const Wrapper& wrap) {
  std::optional<GroupState> closed = close_level("tdmGroupEnd");
  if (!closed) return;
  GroupState& state = *closed;
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
  for (const Call& call : state.calls) {
    Comm* comm = &comm_of(*call.team);
    if (std::find(comms.begin(), comms.end(), comm) == comms.end()) comms.push_back(comm);
  }
  wrap(comms, [&] { run(state.calls); });
}

void end_without_running() {
  std::optional<GroupState> closed = close_level("tdmGroupSimulateEnd");
  if (closed && !closed->inits.empty())
    throw_error(tdmInvalidUsage,
                "a group that creates communicators cannot be simulated (nothing was created)");
}

namespace {
// Runs the plans; on failure the communicators involved cannot be trusted
// any more (partial traffic may sit in their links).
void execute_host(std::span<std::vector<plan::Plan>> queues, std::span<plan::Team* const> teams) {
  try {
    host::execute(queues);
  } catch (const Error& e) {
    for (plan::Team* team : teams)
      comm_of(*team).async_error.record(e.code() == tdmInvalidUsage ? tdmRemoteError : e.code(),
                                        e.what());
    throw;
  }
}
}  // namespace

void run(std::span<const Call> all) {
  // One call (what every ungrouped call is): no sorting into engines and
  // queues, which would cost allocations a small call notices.
  if (all.size() == 1) {
    const Call& call = all.front();
    if (call.device) {
      cuda_side::enqueue(all);
      return;
    }
    if (call.kind == plan::CallKind::kAllReduce || call.kind == plan::CallKind::kAlltoAll) {
      try {
        if (host::run_slots_call(call)) return;
      } catch (const Error& e) {
        comm_of(*call.team)
            .async_error.record(e.code() == tdmInvalidUsage ? tdmRemoteError : e.code(), e.what());
        throw;
      }
    }
    std::array<std::vector<plan::Plan>, 1> queue;
    queue[0].push_back(plan::is_point_to_point(call) ? host::build_point_to_point(*call.team, all)
                                                     : host::build_collective(call));
    execute_host(queue, std::span(&call.team, 1));
    return;
  }
  std::vector<Call> device_calls, host_calls;
  for (const Call& call : all) (call.device ? device_calls : host_calls).push_back(call);
  cuda_side::enqueue(device_calls);
  if (host_calls.empty()) return;
  std::span<const Call> calls(host_calls);
  // One queue of plans per communicator, in order of first appearance.
  std::vector<plan::Team*> teams;
  for (const Call& call : calls)
    if (std::find(teams.begin(), teams.end(), call.team) == teams.end()) teams.push_back(call.team);
  std::vector<std::vector<plan::Plan>> queues(teams.size());
  for (size_t i = 0; i < teams.size(); ++i) {
    std::vector<Call> p2p;
    for (const Call& call : calls)
      if (call.team == teams[i] && plan::is_point_to_point(call)) p2p.push_back(call);
    if (!p2p.empty()) queues[i].push_back(host::build_point_to_point(*teams[i], p2p));
    for (const Call& call : calls)
      if (call.team == teams[i] && !plan::is_point_to_point(call))
        queues[i].push_back(host::build_collective(call));
  }
  execute_host(queues, teams);
}

}  // namespace tdm::group
