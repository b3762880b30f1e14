#include "api/registry.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <unordered_map>

#include "util/error.h"

namespace tdm::api {

namespace {

struct Registry {
  std::mutex mutex;
  std::condition_variable idle;
  std::unordered_map<Comm*, std::unique_ptr<Comm>> live;
  std::map<Comm*, int> in_flight;  // calls currently running on each comm
  std::unordered_map<fused::FusedOp*, std::unique_ptr<fused::FusedOp>> fused_ops;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: usable from atexit paths
  return *r;
}

Comm* as_comm(tdmComm_t handle) { return reinterpret_cast<Comm*>(handle); }
tdmComm_t as_handle(Comm* comm) { return reinterpret_cast<tdmComm_t>(comm); }

fused::FusedOp* as_op(tdmFusedOp_t handle) { return reinterpret_cast<fused::FusedOp*>(handle); }

// The op behind `handle` (r.mutex held), checked, its communicator too.
fused::FusedOp& live_op(Registry& r, tdmFusedOp_t handle, const char* what) {
  if (handle == nullptr) throw_error(tdmInvalidArgument, what, " is NULL");
  if (!r.fused_ops.count(as_op(handle)))
    throw_error(tdmInvalidArgument, what,
                " is not a live fused op (already destroyed, or never created)");
  fused::FusedOp& op = *as_op(handle);
  if (!r.live.count(&op.comm()))
    throw_error(tdmInvalidUsage, what,
                "'s communicator was destroyed first; destroy fused ops before their communicator");
  return op;
}

}  // namespace

tdmFusedOp_t publish(std::unique_ptr<fused::FusedOp> op) {
  fused::FusedOp* raw = op.get();
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.fused_ops.emplace(raw, std::move(op));
  return reinterpret_cast<tdmFusedOp_t>(raw);
}

fused::FusedOp& checked(tdmFusedOp_t handle, const char* what) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return live_op(r, handle, what);
}

std::unique_ptr<fused::FusedOp> take(tdmFusedOp_t handle) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  fused::FusedOp& op = live_op(r, handle, "op");
  auto it = r.fused_ops.find(&op);
  std::unique_ptr<fused::FusedOp> owned = std::move(it->second);
  r.fused_ops.erase(it);
  return owned;
}

tdmComm_t publish(std::unique_ptr<Comm> comm) {
  if (!comm) return nullptr;
  Comm* raw = comm.get();
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.live.emplace(raw, std::move(comm));
  return as_handle(raw);
}

Comm& checked(tdmComm_t handle, const char* what) {
  if (handle == nullptr) throw_error(tdmInvalidArgument, what, " is NULL");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.live.count(as_comm(handle)))
    throw_error(tdmInvalidArgument, what,
                " is not a live communicator (already destroyed, or never created)");
  return *as_comm(handle);
}

void retire(Comm& comm, bool abort) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  if (abort) {
    comm.abort.store(true);
    r.idle.wait(lock, [&] { return !r.in_flight.count(&comm); });
  } else if (r.in_flight.count(&comm)) {
    throw_error(tdmInvalidUsage,
                "tdmCommDestroy while another thread runs an operation on the communicator; "
                "use tdmCommAbort to interrupt it");
  }
  auto it = r.live.find(&comm);
  std::unique_ptr<Comm> owned = std::move(it->second);
  r.live.erase(it);
  lock.unlock();
  owned.reset();  // outside the lock: teardown may wait for the device or peers
}

InFlight::InFlight(std::span<Comm* const> comms) : comms_(comms.begin(), comms.end()) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  // Check all first: a throw must not leave some communicators marked busy.
  for (Comm* c : comms_)
    if (!r.live.count(c))
      throw_error(tdmInvalidArgument, "a communicator was destroyed before its group ran");
  for (Comm* c : comms_) ++r.in_flight[c];
}

InFlight::~InFlight() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (Comm* c : comms_)
    if (--r.in_flight[c] == 0) r.in_flight.erase(c);
  r.idle.notify_all();
}

}  // namespace tdm::api
