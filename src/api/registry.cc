#include "api/registry.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "api/guard.h"
#include "util/error.h"
#include "util/handle_token.h"

namespace tdm::api {

namespace {

struct Registry {
  std::mutex mutex;
  std::condition_variable idle;
  std::unordered_map<uint64_t, std::unique_ptr<Comm>> live;  // by token
  // Live objects, for the calls that hold a Comm* (groups); erased with `live`.
  std::unordered_map<const Comm*, uint64_t> token_of_comm;
  std::map<const Comm*, int> in_flight;  // calls currently running on each comm
  std::unordered_map<uint64_t, std::unique_ptr<fused::FusedOp>> fused_ops;  // by token
  // Non-blocking inits still running (code tdmInProgress) or failed, by token.
  struct Pending {
    tdmResult_t code = tdmInProgress;
    std::string error;
  };
  std::unordered_map<uint64_t, Pending> pending;
  std::unordered_map<uint64_t, std::unique_ptr<fused::ep::Ep>> eps;  // by token
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: usable from atexit paths
  return *r;
}

[[noreturn]] void not_live(const char* what) {
  throw_error(tdmInvalidArgument, what,
              " is not a live communicator (it was destroyed, or never created)");
}

// Caller holds the registry's mutex.
Comm& find_locked(Registry& r, tdmComm_t handle, const char* what) {
  if (handle == nullptr) throw_error(tdmInvalidArgument, what, " is NULL");
  auto it = r.live.find(token_of(handle));
  if (it == r.live.end()) {
    auto pending = r.pending.find(token_of(handle));
    if (pending == r.pending.end()) not_live(what);
    if (pending->second.code == tdmInProgress)
      throw_error(tdmInvalidUsage, what,
                  " is still being created (non-blocking init): poll tdmCommGetAsyncError until "
                  "it is no longer tdmInProgress");
    throw_error(pending->second.code, what, "'s non-blocking init failed: ", pending->second.error,
                "; destroy it");
  }
  return *it->second;
}

// What the registry owns besides communicators: fused ops and eps, each in
// its own table, named in the sentences.
template <typename Object>
struct Kind;
template <>
struct Kind<fused::FusedOp> {
  static auto& table(Registry& r) { return r.fused_ops; }
  static constexpr const char* noun = "fused op";
};
template <>
struct Kind<fused::ep::Ep> {
  static auto& table(Registry& r) { return r.eps; }
  static constexpr const char* noun = "ep";
};

// The object behind `handle` (r.mutex held), checked, its communicator too.
template <typename Object, typename Handle>
Object& live_object(Registry& r, Handle handle, const char* what) {
  using K = Kind<Object>;
  if (handle == nullptr) throw_error(tdmInvalidArgument, what, " is NULL");
  auto& table = K::table(r);
  auto it = table.find(token_of(handle));
  if (it == table.end())
    throw_error(tdmInvalidArgument, what, " is not a live ", K::noun,
                " (already destroyed, or never created)");
  Object& object = *it->second;
  if (!r.token_of_comm.count(&object.comm()))
    throw_error(tdmInvalidUsage, what, "'s communicator was destroyed first; destroy ", K::noun,
                "s before their communicator");
  return object;
}

template <typename Handle, typename Object>
Handle publish_object(std::unique_ptr<Object> object) {
  const uint64_t token = new_handle_token();
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  Kind<Object>::table(r).emplace(token, std::move(object));
  return as_handle<Handle>(token);
}

template <typename Object, typename Handle>
Object& checked_object(Handle handle, const char* what) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return live_object<Object>(r, handle, what);
}

template <typename Object, typename Handle>
std::unique_ptr<Object> take_object(Handle handle, const char* what) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  live_object<Object>(r, handle, what);
  auto& table = Kind<Object>::table(r);
  auto it = table.find(token_of(handle));
  std::unique_ptr<Object> owned = std::move(it->second);
  table.erase(it);
  return owned;
}

}  // namespace

tdmFusedOp_t publish(std::unique_ptr<fused::FusedOp> op) {
  return publish_object<tdmFusedOp_t>(std::move(op));
}
fused::FusedOp& checked(tdmFusedOp_t handle, const char* what) {
  return checked_object<fused::FusedOp>(handle, what);
}
std::unique_ptr<fused::FusedOp> take(tdmFusedOp_t handle) {
  return take_object<fused::FusedOp>(handle, "op");
}

tdmEp_t publish(std::unique_ptr<fused::ep::Ep> ep) {
  return publish_object<tdmEp_t>(std::move(ep));
}
fused::ep::Ep& checked(tdmEp_t handle, const char* what) {
  return checked_object<fused::ep::Ep>(handle, what);
}
std::unique_ptr<fused::ep::Ep> take(tdmEp_t handle) {
  return take_object<fused::ep::Ep>(handle, "ep");
}

tdmComm_t publish(std::unique_ptr<Comm> comm) {
  if (!comm) return nullptr;
  const uint64_t token = new_handle_token();
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.token_of_comm.emplace(comm.get(), token);
  r.live.emplace(token, std::move(comm));
  return as_handle<tdmComm_t>(token);
}

tdmComm_t publish_pending(std::function<std::unique_ptr<Comm>()> build) {
  const uint64_t token = new_handle_token();
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    r.pending.emplace(token, Registry::Pending{});
  }
  // Detached: the registry outlives it (never destroyed), and destroy waits
  // for the outcome through `pending`, not for the thread.
  std::thread([token, build = std::move(build)] {
    std::unique_ptr<Comm> comm;
    const tdmResult_t code = guarded("tdmCommInitRankConfig", [&] { comm = build(); });
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (code == tdmSuccess) {
      r.token_of_comm.emplace(comm.get(), token);
      r.live.emplace(token, std::move(comm));
      r.pending.erase(token);
    } else {
      r.pending[token] = Registry::Pending{code, last_error()};
    }
    r.idle.notify_all();
  }).detach();
  return as_handle<tdmComm_t>(token);
}

tdmResult_t init_state(tdmComm_t handle) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.pending.find(token_of(handle));
  if (it == r.pending.end()) return tdmSuccess;
  if (it->second.code != tdmInProgress) set_last_error(it->second.error);
  return it->second.code;
}

Comm& checked(tdmComm_t handle, const char* what) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return find_locked(r, handle, what);
}

void retire(tdmComm_t handle, bool abort) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  // A non-blocking init has no communicator to interrupt yet: wait for it.
  r.idle.wait(lock, [&] {
    auto it = r.pending.find(token_of(handle));
    return it == r.pending.end() || it->second.code != tdmInProgress;
  });
  if (r.pending.erase(token_of(handle))) return;  // its init failed: nothing was made
  Comm& comm = find_locked(r, handle, "comm");
  if (abort) {
    comm.abort.store(true);
    r.idle.wait(lock, [&] { return !r.in_flight.count(&comm); });
  } else if (r.in_flight.count(&comm)) {
    throw_error(tdmInvalidUsage,
                "tdmCommDestroy while another thread runs an operation on the communicator; "
                "use tdmCommAbort to interrupt it");
  }
  // Another thread may have destroyed it while abort waited.
  auto it = r.live.find(token_of(handle));
  if (it == r.live.end()) not_live("comm");
  std::unique_ptr<Comm> owned = std::move(it->second);
  r.live.erase(it);
  r.token_of_comm.erase(owned.get());
  lock.unlock();
  owned.reset();  // outside the lock: teardown may wait for the device or peers
}

InFlight::InFlight(std::span<Comm* const> comms) : comms_(comms.begin(), comms.end()) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  // Check all first: a throw must not leave some communicators marked busy.
  for (Comm* c : comms_)
    if (!r.token_of_comm.count(c))
      throw_error(tdmInvalidArgument, "a communicator was destroyed before its group ran");
  for (Comm* c : comms_) ++r.in_flight[c];
}

InFlight::InFlight(std::span<const tdmComm_t> handles) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  for (tdmComm_t handle : handles) {
    auto it = r.live.find(token_of(handle));
    if (it == r.live.end())
      throw_error(tdmInvalidArgument, "a communicator was destroyed before its group ran");
    comms_.push_back(it->second.get());
  }
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
