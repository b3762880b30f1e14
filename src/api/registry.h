// The communicators the C API handed out: owned here from creation to
// tdmCommDestroy/tdmCommAbort, so a handle is checked before use (a destroyed
// or never-created one is an error, not a crash), and abort can wait for the
// calls running on a communicator. A handle is a token, not the address
// (util/handle_token.h): a destroyed one stays stale after the memory is reused.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "comm/comm.h"
#include "fused/ep/ep.h"
#include "fused/fused_op.h"
#include "tandem/ep.h"
#include "tandem/fused.h"
#include "tandem/tandem.h"

namespace tdm::api {

// Takes ownership; null stays null (a NOCOLOR split).
tdmComm_t publish(std::unique_ptr<Comm> comm);
// Non-blocking init: a handle at once, while `build` runs on a thread of its
// own; the communicator becomes live when it returns. Until then calls on the
// handle fail (init_state says why), except destroy and abort, which wait.
tdmComm_t publish_pending(std::function<std::unique_ptr<Comm>()> build);
// tdmInProgress while a non-blocking init runs; its error (with the thread's
// last-error sentence set to the init's) once it failed; tdmSuccess otherwise.
tdmResult_t init_state(tdmComm_t handle);
// The live communicator behind `handle`, or tdmInvalidArgument naming `what`.
Comm& checked(tdmComm_t handle, const char* what = "comm");
// Destroys; with `abort`, first stops and waits for the calls running on it.
// Without, refuses while another thread runs an operation on it.
void retire(tdmComm_t handle, bool abort);

// Fused ops (tandem/fused.h), owned here like communicators: a destroyed
// or never-created handle is an error, not a crash.
tdmFusedOp_t publish(std::unique_ptr<fused::FusedOp> op);
// The live op behind `handle`, whose communicator is live too.
fused::FusedOp& checked(tdmFusedOp_t handle, const char* what = "op");
// Takes a live op back out of the registry (its communicator must be live:
// destroying the op frees symmetric memory collectively).
std::unique_ptr<fused::FusedOp> take(tdmFusedOp_t handle);

// Eps (tandem/ep.h), the same way.
tdmEp_t publish(std::unique_ptr<fused::ep::Ep> ep);
fused::ep::Ep& checked(tdmEp_t handle, const char* what = "ep");
std::unique_ptr<fused::ep::Ep> take(tdmEp_t handle);

// Marks communicators busy for a scope, so abort can wait for the call.
// Throws when one was destroyed meanwhile (nothing is marked then).
class InFlight {
 public:
  explicit InFlight(std::span<Comm* const> comms);
  explicit InFlight(Comm& comm) : InFlight(std::span<Comm* const>(std::array{&comm})) {}
  // By handle: a group's communicators, each of which may have been destroyed
  // (and its memory reused by a new one) since its call was queued.
  explicit InFlight(std::span<const tdmComm_t> handles);
  ~InFlight();
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::vector<Comm*> comms_;
};

}  // namespace tdm::api
