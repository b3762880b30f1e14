#include "collectives/host/executor.h"

#include <sched.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include "collectives/host/plans.h"
#include "collectives/host/reduce_kernels.h"
#include "collectives/host/slots.h"
#include "plan/team.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::host {

namespace {

using plan::Op;
using plan::Plan;
using plan::Prim;
using transport::kLinkAlignment;

// Bytes moved per op per turn: small enough that forwarded data flows on
// quickly, large enough to amortize the ring bookkeeping.
size_t turn_bytes() {
  static const size_t bytes = env::get_size("TANDEM_CHUNK_SIZE", 128 << 10, 64, 1 << 30);
  return bytes;
}

size_t pad_of(size_t bytes) { return (kLinkAlignment - bytes % kLinkAlignment) % kLinkAlignment; }

// out = (prescaled src) (+) in, over n bytes; src may be null for pure copies.
void combine(const plan::Reduction& red, std::byte* out, const std::byte* src, const std::byte* in,
             size_t n, bool prescale) {
  size_t count = n / red.elem;
  const ReduceOp op = red.kind;
  if (prescale) {
    scale(red.type, out, src, count, red.scalar.data());
    reduce(red.type, op, out, out, in, count);
  } else {
    reduce(red.type, op, out, src, in, count);
  }
}

void finish(const plan::Reduction& red, std::byte* data, size_t n) {
  if (red.divisor > 1) divide(red.type, data, n / red.elem, red.divisor);
}

// kExchangeInPlace: sends first, so a byte leaves the block before the peer's
// byte lands on it, and receives only what was already sent. Both sides do
// the same, so each can always receive while the other has sent more than it
// received: the exchange progresses whatever the ring sizes.
bool progress_exchange(const Plan& p, Op& op) {
  plan::Team& team = *p.team;
  transport::Link& in_link = team.link(op.recv_peer);
  transport::Link& out_link = team.link(op.send_peer);
  in_link.progress();
  bool moved = false;
  while (op.sent < op.bytes) {
    std::span<std::byte> out = out_link.send_space();
    const size_t n = std::min({op.bytes - op.sent, turn_bytes(), out.size()});
    if (n == 0) break;
    std::memcpy(out.data(), op.dst + op.sent, n);
    out_link.send_commit(n);
    op.sent += n;
    moved = true;
  }
  const size_t pad = pad_of(op.bytes);
  if (op.sent == op.bytes && !op.sent_padded && out_link.send_space().size() >= pad) {
    if (pad) out_link.send_commit(pad);
    op.sent_padded = true;
    moved = true;
  }
  while (op.done < op.sent) {
    std::span<const std::byte> in = in_link.recv_data();
    const size_t n = std::min({op.sent - op.done, turn_bytes(), in.size()});
    if (n == 0) break;
    std::memcpy(op.dst + op.done, in.data(), n);
    in_link.recv_release(n);
    op.done += n;
    moved = true;
  }
  if (op.done == op.bytes && op.sent_padded && !op.padded && in_link.recv_data().size() >= pad) {
    if (pad) in_link.recv_release(pad);
    op.padded = true;
    moved = true;
  }
  moved |= out_link.progress();
  return moved;
}

// Moves what the links allow for one op; returns true if any byte moved.
bool progress_op(const Plan& p, Op& op) {
  if (op.prim == Prim::kExchangeInPlace) return progress_exchange(p, op);
  plan::Team& team = *p.team;
  const plan::Reduction& red = p.reduction;
  transport::Link* in_link = plan::uses_inbound(op.prim) ? &team.link(op.recv_peer) : nullptr;
  transport::Link* out_link = plan::uses_outbound(op.prim) ? &team.link(op.send_peer) : nullptr;
  if (in_link) in_link->progress();
  bool moved = false;
  while (op.done < op.bytes) {
    size_t n = std::min(op.bytes - op.done, turn_bytes());
    std::span<const std::byte> in;
    std::span<std::byte> out;
    if (in_link) {
      in = in_link->recv_data();
      n = std::min(n, in.size());
    }
    if (out_link) {
      out = out_link->send_space();
      n = std::min(n, out.size());
    }
    if (n < op.bytes - op.done) n -= n % red.elem;
    if (n == 0) break;
    const std::byte* src = op.src ? op.src + op.done : nullptr;
    std::byte* dst = op.dst ? op.dst + op.done : nullptr;
    switch (op.prim) {
      case Prim::kSend:
        if (op.prescale)
          scale(red.type, out.data(), src, n / red.elem, red.scalar.data());
        else
          std::memcpy(out.data(), src, n);
        break;
      case Prim::kRecv:
        std::memcpy(dst, in.data(), n);
        break;
      case Prim::kRecvReduce:
        combine(red, dst, src, in.data(), n, op.prescale);
        if (op.finalize) finish(red, dst, n);
        break;
      case Prim::kRecvReduceSend:
        combine(red, out.data(), src, in.data(), n, op.prescale);
        break;
      case Prim::kRecvReduceCopySend:
        combine(red, dst, src, in.data(), n, op.prescale);
        if (op.finalize) finish(red, dst, n);
        std::memcpy(out.data(), dst, n);
        break;
      case Prim::kRecvCopySend:
        std::memcpy(dst, in.data(), n);
        std::memcpy(out.data(), in.data(), n);
        break;
      case Prim::kExchangeInPlace:  // progress_exchange
        break;
    }
    if (in_link) in_link->recv_release(n);
    if (out_link) out_link->send_commit(n);
    op.done += n;
    moved = true;
  }
  if (op.done == op.bytes && !op.padded) {
    // Keep every message 8-byte aligned in the rings (see kLinkAlignment).
    size_t pad = pad_of(op.bytes);
    bool ready = true;
    if (in_link && pad) ready = in_link->recv_data().size() >= pad;
    if (out_link && pad) ready = ready && out_link->send_space().size() >= pad;
    if (ready) {
      if (in_link && pad) in_link->recv_release(pad);
      if (out_link && pad) out_link->send_commit(pad);
      op.padded = true;
      moved = true;
    }
  }
  if (out_link) moved |= out_link->progress();
  return moved;
}

bool op_complete(const Op& op) { return op.padded; }

// Ops of a step that share a link direction run in order; the others in parallel.
bool blocked_by_earlier(const std::vector<Op>& ops, size_t index) {
  const Op& op = ops[index];
  bool in = plan::uses_inbound(op.prim), out = plan::uses_outbound(op.prim);
  for (size_t i = 0; i < index; ++i) {
    const Op& earlier = ops[i];
    if (op_complete(earlier)) continue;
    if (in && plan::uses_inbound(earlier.prim) && earlier.recv_peer == op.recv_peer) return true;
    if (out && plan::uses_outbound(earlier.prim) && earlier.send_peer == op.send_peer) return true;
  }
  return false;
}

// Advances a plan as far as its links allow; true if anything happened.
bool advance(Plan& p) {
  bool moved = false;
  while (p.step < p.steps.size()) {
    plan::Step& step = p.steps[p.step];
    if (!p.step_started) {
      if (step.local) step.local();
      p.step_started = true;
      moved = true;
    }
    bool all_done = true;
    for (size_t i = 0; i < step.ops.size(); ++i) {
      Op& op = step.ops[i];
      if (op_complete(op)) continue;
      if (!blocked_by_earlier(step.ops, i)) moved |= progress_op(p, op);
      all_done = all_done && op_complete(op);
    }
    if (!all_done) return moved;
    if (step.ready && !step.ready()) return moved;
    ++p.step;
    p.step_started = false;
  }
  return moved;
}

std::string during_collective(const plan::Team& team) {
  return "during a collective of communicator " + team.name;
}

// Every peer of `team`, for waits on all of them (the slots).
void check_every_peer(const plan::Team& team) {
  for (int peer = 0; peer < team.nranks; ++peer)
    if (peer != team.rank && team.boot->peer_failed(peer))
      team.boot->peer_went_away(peer, during_collective(team));
}

// Peers the current step of `p` waits on, checked when nothing moves. Only
// those: a peer that finished the job and exited is no failure. Which rank
// the error names is the bootstrap's answer (the one that died first), not
// the peer found gone: that one may have failed because of the first.
void check_peers(const Plan& p) {
  plan::Team& team = *p.team;
  if (p.step >= p.steps.size()) return;
  if (p.steps[p.step].ready) check_every_peer(team);  // waits on every peer (slots)
  for (const Op& op : p.steps[p.step].ops) {
    if (op_complete(op)) continue;
    for (int peer : {op.recv_peer, op.send_peer}) {
      if (peer >= 0 && peer != team.rank && team.boot->peer_failed(peer))
        team.boot->peer_went_away(peer, during_collective(team));
    }
  }
}

// What a host wait does while nothing moves: spin `spin` polls, then yield
// the core (the peer we wait for may need it); every 100 ms look for dead
// peers (`check_peers`); give up after TANDEM_TIMEOUT without progress.
// Reads neither the clock nor the environment until the wait is long.
class Idle {
 public:
  explicit Idle(unsigned spin) : spin_(spin) {}
  void progressed() { idle_ = 0; }
  template <typename CheckPeers>
  void pause(CheckPeers&& check_peers) {
    if (idle_++ == 0) last_progress_ = last_check_ = Clock::now();
    if (idle_ < spin_) return;
    sched_yield();
    if ((idle_ & 255) != 0) return;
    if (timeout_ <= 0) timeout_ = env::timeout_seconds();
    auto now = Clock::now();
    if (now - last_check_ > std::chrono::milliseconds(100)) {
      last_check_ = now;
      check_peers();
    }
    if (now - last_progress_ > std::chrono::duration<double>(timeout_))
      throw_error(tdmRemoteError, "no progress for TANDEM_TIMEOUT=", timeout_,
                  " s in a collective (a peer is hung or did not call the same operation)");
  }

 private:
  using Clock = std::chrono::steady_clock;
  unsigned spin_;
  unsigned idle_ = 0;
  Clock::time_point last_progress_, last_check_;
  double timeout_ = 0;  // seconds; read when first needed
};

void check_aborted(const plan::Team& team) {
  if (team.abort.load(std::memory_order_relaxed))
    throw_error(tdmInvalidUsage, "communicator ", team.name,
                " was aborted (tdmCommAbort) while an operation was running");
}

void run_queues(std::span<std::vector<Plan>> queues, plan::Team*& team_now) {
  // Small calls finish in a microsecond or two: nothing here allocates unless
  // the group spans more than a few communicators.
  std::array<size_t, 4> few{};
  std::vector<size_t> many(queues.size() > few.size() ? queues.size() : 0, 0);
  std::span<size_t> current = many.empty() ? std::span(few).first(queues.size()) : std::span(many);
  unsigned spin = ~0u;
  for (const auto& queue : queues)
    if (!queue.empty()) spin = std::min(spin, queue.front().team->spin_before_yield);
  Idle idle(spin);
  while (true) {
    bool moved = false, done = true;
    for (size_t q = 0; q < queues.size(); ++q) {
      auto& queue = queues[q];
      while (current[q] < queue.size()) {
        Plan& p = queue[current[q]];
        team_now = p.team;
        check_aborted(*p.team);
        moved |= advance(p);
        if (p.step < p.steps.size()) break;
        ++current[q];
      }
      done = done && current[q] == queue.size();
    }
    if (done) {
      // Bytes staged in this process (sockets) must leave before the call returns.
      bool flushed = true;
      for (auto& queue : queues)
        if (!queue.empty())
          for (auto& link : (team_now = queue.front().team)->links)
            if (link && !link->flushed()) {
              moved |= link->progress();
              flushed = flushed && link->flushed();
            }
      if (flushed) return;
    }
    if (moved) {
      idle.progressed();
      continue;
    }
    idle.pause([&] {
      for (size_t q = 0; q < queues.size(); ++q)
        if (current[q] < queues[q].size()) check_peers(queues[q][current[q]]);
    });
  }
}

}  // namespace

void execute(std::span<std::vector<Plan>> queues) {
  plan::Team* team_now = nullptr;  // whose links run when a link throws
  try {
    run_queues(queues, team_now);
  } catch (const PeerGoneError& e) {
    if (e.resolved() || team_now == nullptr) throw;
    team_now->boot->peer_went_away(e.rank(), during_collective(*team_now));
  }
}

bool run_slots_call(const plan::Call& call) {
  if (!uses_slots(call)) return false;
  plan::Team& team = *call.team;
  const plan::Reduction red = reduction_for(call);
  const uint64_t epoch = ++team.slot_epoch;
  slots_begin(team, call, red, epoch);
  Idle idle(team.spin_before_yield);
  while (!slots_ready(team, epoch)) {
    check_aborted(team);
    idle.pause([&] { check_every_peer(team); });
  }
  slots_end(team, call, red, epoch);
  return true;
}

}  // namespace tdm::host
