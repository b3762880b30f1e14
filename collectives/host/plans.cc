#include "collectives/host/plans.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "collectives/host/reduce_kernels.h"
#include "collectives/host/slots.h"
#include "plan/team.h"
#include "util/dtype.h"
#include "util/error.h"

namespace tdm::host {

using plan::Call;
using plan::CallKind;
using plan::Op;
using plan::Plan;
using plan::Prim;
using plan::Step;
using plan::Team;

namespace {

std::byte* bytes_of(void* p) { return static_cast<std::byte*>(p); }
const std::byte* bytes_of(const void* p) { return static_cast<const std::byte*>(p); }

Op make_op(Prim prim, int recv_peer, int send_peer, const std::byte* src, std::byte* dst,
           size_t bytes) {
  Op op;
  op.prim = prim;
  op.recv_peer = recv_peer;
  op.send_peer = send_peer;
  op.src = src;
  op.dst = dst;
  op.bytes = bytes;
  return op;
}

// Appends steps to a plan; each helper adds one single-op step unless noted.
struct Builder {
  Plan& plan;
  Team& team;

  void add(Op op) {
    Step step;
    step.ops.push_back(op);
    plan.steps.push_back(std::move(step));
  }
  void local(std::function<void()> work) {
    Step step;
    step.local = std::move(work);
    plan.steps.push_back(std::move(step));
  }
  size_t elem() const { return plan.reduction.elem; }
  // Bytes per chunk so a ring's first send always fits the link (deadlock freedom).
  size_t ring_chunk_elems() const { return std::max<size_t>(1, team.link_capacity / 2 / elem()); }
};

plan::Reduction reduction_of_call(const Call& call) {
  plan::Reduction red;
  red.type = call.type;
  red.elem = type_size(call.type);
  const plan::ReductionOf of = plan::reduction_of(call.op, call.team->nranks);
  red.kind = of.kind;
  red.divisor = of.divisor;
  if (of.premul) {  // the scalar as resolved by the API when the call was made
    if (call.scalar_pointer != nullptr)
      std::memcpy(red.scalar.data(), call.scalar_pointer, red.elem);
    else
      red.scalar = call.scalar;
  }
  return red;
}

bool is_premulsum(const Call& call) { return call.op >= tdmNumOps; }

// Local result for one rank or for a rank's own contribution: dst = finish(prescale(src)).
void local_reduce_copy(const plan::Reduction& red, std::byte* dst, const std::byte* src,
                       size_t count, bool prescale) {
  if (prescale)
    host::scale(red.type, dst, src, count, red.scalar.data());
  else if (dst != src && count > 0)  // count 0: the buffers may be null
    std::memmove(dst, src, count * red.elem);
  if (red.divisor > 1) host::divide(red.type, dst, count, red.divisor);
}

// ---- allreduce ----

void allreduce_oneshot(Builder& b, const Call& call) {
  Team& team = b.team;
  const size_t bytes = call.count * b.elem();
  const bool prescale = is_premulsum(call);
  auto& scratch = b.plan.scratch.emplace_back(bytes * team.nranks);
  std::byte* slots = scratch.data();
  const std::byte* src = bytes_of(call.send);
  std::byte* dst = bytes_of(call.recv);
  Step exchange;
  plan::Reduction red = b.plan.reduction;
  // Our own slot first (before dst, which may alias src, is written).
  exchange.local = [=, &team] {
    std::byte* mine = slots + bytes * team.rank;
    if (prescale)
      host::scale(red.type, mine, src, call.count, red.scalar.data());
    else if (bytes > 0)  // count 0: no slots, the buffers may be null
      std::memcpy(mine, src, bytes);
  };
  for (int peer = 0; peer < team.nranks; ++peer) {
    if (peer == team.rank) continue;
    Op send = make_op(Prim::kSend, -1, peer, src, nullptr, bytes);
    send.prescale = prescale;
    exchange.ops.push_back(send);
    exchange.ops.push_back(make_op(Prim::kRecv, peer, -1, nullptr, slots + bytes * peer, bytes));
  }
  b.plan.steps.push_back(std::move(exchange));
  // Reduce in rank order so every rank computes bit-identical results.
  b.local([=, &team] {
    const plan::ReduceKind op = red.kind;
    host::reduce(red.type, op, dst, slots, slots + bytes, call.count);
    for (int r = 2; r < team.nranks; ++r)
      host::reduce(red.type, op, dst, dst, slots + bytes * r, call.count);
    if (red.divisor > 1) host::divide(red.type, dst, call.count, red.divisor);
  });
}

// A one-shot allreduce or an all-to-all through the team's shared slots
// (slots.h): publish, wait for every peer's epoch, reduce or copy out.
void collective_slots(Builder& b, const Call& call) {
  Team& team = b.team;
  const uint64_t epoch = ++team.slot_epoch;  // plans of a team run in build order
  const plan::Reduction red = b.plan.reduction;
  Step exchange;
  exchange.local = [call, red, epoch, &team] { slots_begin(team, call, red, epoch); };
  exchange.ready = [epoch, &team] { return slots_ready(team, epoch); };
  b.plan.steps.push_back(std::move(exchange));
  b.local([call, red, epoch, &team] { slots_end(team, call, red, epoch); });
}

// Ring reduce-scatter + allgather over the ranks `ring` (this rank included),
// on count elements of src -> dst, sliced so each send fits the links.
void allreduce_ring(Builder& b, std::span<const int> ring, const std::byte* src, std::byte* dst,
                    size_t count, bool prescale, bool finalize) {
  const int n = static_cast<int>(ring.size());
  const size_t elem = b.elem();
  if (n == 1) {
    plan::Reduction red = b.plan.reduction;
    red.divisor = finalize ? red.divisor : 0;
    b.local([=] { local_reduce_copy(red, dst, src, count, prescale); });
    return;
  }
  const int p = static_cast<int>(std::find(ring.begin(), ring.end(), b.team.rank) - ring.begin());
  const int next = ring[(p + 1) % n], prev = ring[(p + n - 1) % n];
  const size_t chunk = b.ring_chunk_elems();
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  for (size_t base = 0; base < count; base += chunk * n) {
    const size_t slice = std::min(chunk * n, count - base);
    const size_t per = (slice + n - 1) / n;
    auto offset = [&](int c) { return std::min(base + per * c, base + slice); };
    auto length = [&](int c) {
      return (std::min(base + per * (c + 1), base + slice) - offset(c)) * elem;
    };
    auto at = [&](const std::byte* buf, int c) { return buf + offset(c) * elem; };
    auto at_dst = [&](int c) { return dst + offset(c) * elem; };

    Op first = make_op(Prim::kSend, -1, next, at(src, p), nullptr, length(p));
    first.prescale = prescale;
    b.add(first);
    for (int k = 1; k <= n - 2; ++k) {
      int c = mod(p - k);
      Op op = make_op(Prim::kRecvReduceSend, prev, next, at(src, c), nullptr, length(c));
      op.prescale = prescale;
      b.add(op);
    }
    int owned = mod(p + 1);
    Op last = make_op(Prim::kRecvReduceCopySend, prev, next, at(src, owned), at_dst(owned),
                      length(owned));
    last.prescale = prescale;
    last.finalize = finalize;
    b.add(last);
    for (int k = 1; k <= n - 2; ++k) {
      int c = mod(p + 1 - k);
      b.add(make_op(Prim::kRecvCopySend, prev, next, nullptr, at_dst(c), length(c)));
    }
    int final_chunk = mod(p + 2);
    b.add(make_op(Prim::kRecv, prev, -1, nullptr, at_dst(final_chunk), length(final_chunk)));
  }
}

// Chain reduce: data flows along `chain` and ends reduced at its last rank.
void chain_reduce(Builder& b, std::span<const int> chain, const std::byte* src, std::byte* dst,
                  size_t bytes, bool prescale, bool finalize) {
  const int n = static_cast<int>(chain.size());
  const int p =
      static_cast<int>(std::find(chain.begin(), chain.end(), b.team.rank) - chain.begin());
  if (n == 1) {
    plan::Reduction red = b.plan.reduction;
    red.divisor = finalize ? red.divisor : 0;
    size_t count = bytes / b.elem();
    b.local([=] { local_reduce_copy(red, dst, src, count, prescale); });
    return;
  }
  Op op;
  if (p == 0)
    op = make_op(Prim::kSend, -1, chain[1], src, nullptr, bytes);
  else if (p == n - 1)
    op = make_op(Prim::kRecvReduce, chain[p - 1], -1, src, dst, bytes);
  else
    op = make_op(Prim::kRecvReduceSend, chain[p - 1], chain[p + 1], src, nullptr, bytes);
  op.prescale = prescale;
  op.finalize = finalize && p == n - 1;
  b.add(op);
}

// Chain broadcast from chain[0]: forwarded as it arrives, so it pipelines.
void chain_broadcast(Builder& b, std::span<const int> chain, const std::byte* src, std::byte* dst,
                     size_t bytes) {
  const int n = static_cast<int>(chain.size());
  const int p =
      static_cast<int>(std::find(chain.begin(), chain.end(), b.team.rank) - chain.begin());
  if (p == 0) {
    if (src != dst && bytes > 0) b.local([=] { std::memmove(dst, src, bytes); });
    if (n > 1) b.add(make_op(Prim::kSend, -1, chain[1], src, nullptr, bytes));
  } else if (p == n - 1) {
    b.add(make_op(Prim::kRecv, chain[p - 1], -1, nullptr, dst, bytes));
  } else {
    b.add(make_op(Prim::kRecvCopySend, chain[p - 1], chain[p + 1], nullptr, dst, bytes));
  }
}

// The ring rotated to start at `first`.
std::vector<int> ring_from(std::span<const int> ring, int first) {
  std::vector<int> out(ring.begin(), ring.end());
  auto it = std::find(out.begin(), out.end(), first);
  std::rotate(out.begin(), it, out.end());
  return out;
}

// Reduce inside each host to its leader, allreduce among leaders, broadcast back.
void allreduce_hierarchical(Builder& b, const Call& call) {
  Team& team = b.team;
  const size_t bytes = call.count * b.elem();
  const bool prescale = is_premulsum(call);
  const std::byte* src = bytes_of(call.send);
  std::byte* dst = bytes_of(call.recv);
  // Host members in ring order; the leader is the last of the reduce chain.
  std::vector<int> members;
  for (int r : team.ring)
    if (team.host_of_rank[r] == team.host()) members.push_back(r);
  const int leader = members.back();
  std::vector<int> leaders;
  for (int r : team.ring) {
    int h = team.host_of_rank[r];
    int last = -1;
    for (int m : team.ring)
      if (team.host_of_rank[m] == h) last = m;
    if (r == last) leaders.push_back(r);
  }
  chain_reduce(b, members, src, dst, bytes, prescale, /*finalize=*/false);
  if (team.rank == leader) {
    // The leader's chain result sits in dst (prescaled); a lone member's does too.
    allreduce_ring(b, leaders, dst, dst, call.count, /*prescale=*/false, /*finalize=*/true);
  }
  std::vector<int> back(members.rbegin(), members.rend());
  chain_broadcast(b, back, dst, dst, bytes);
}

// ---- ring allgather / reduce-scatter ----

// Blocks of `block_elems` per rank in a buffer laid out by rank.
void allgather_ring(Builder& b, const Call& call) {
  Team& team = b.team;
  const int n = team.nranks;
  const size_t elem = b.elem();
  const size_t block = call.count;
  const std::byte* src = bytes_of(call.send);
  std::byte* dst = bytes_of(call.recv);
  std::byte* own = dst + block * elem * team.rank;
  if (src != own && block > 0) b.local([=] { std::memmove(own, src, block * elem); });
  if (n == 1) return;
  const auto& ring = team.ring;
  const int p = team.ring_position[team.rank];
  const int next = ring[(p + 1) % n], prev = ring[(p + n - 1) % n];
  const size_t chunk = b.ring_chunk_elems();
  for (size_t base = 0; base < block; base += chunk) {
    const size_t len = std::min(chunk, block - base) * elem;
    auto piece = [&](int r) { return dst + (block * r + base) * elem; };
    b.add(make_op(Prim::kSend, -1, next, piece(team.rank), nullptr, len));
    for (int k = 1; k <= n - 2; ++k) {
      int r = ring[(p - k + n) % n];
      b.add(make_op(Prim::kRecvCopySend, prev, next, nullptr, piece(r), len));
    }
    b.add(make_op(Prim::kRecv, prev, -1, nullptr, piece(ring[(p + 1) % n]), len));
  }
}

void reduce_scatter_ring(Builder& b, const Call& call) {
  Team& team = b.team;
  const int n = team.nranks;
  const size_t elem = b.elem();
  const size_t block = call.count;
  const bool prescale = is_premulsum(call);
  const std::byte* src = bytes_of(call.send);
  std::byte* dst = bytes_of(call.recv);
  if (n == 1) {
    plan::Reduction red = b.plan.reduction;
    b.local([=] { local_reduce_copy(red, dst, src, block, prescale); });
    return;
  }
  const auto& ring = team.ring;
  const int p = team.ring_position[team.rank];
  const int next = ring[(p + 1) % n], prev = ring[(p + n - 1) % n];
  const size_t chunk = b.ring_chunk_elems();
  for (size_t base = 0; base < block; base += chunk) {
    const size_t len = std::min(chunk, block - base) * elem;
    auto piece = [&](int r) { return src + (block * r + base) * elem; };
    Op first = make_op(Prim::kSend, -1, next, piece(ring[(p + n - 1) % n]), nullptr, len);
    first.prescale = prescale;
    b.add(first);
    for (int k = 1; k <= n - 2; ++k) {
      int r = ring[((p - k - 1) % n + n) % n];
      Op op = make_op(Prim::kRecvReduceSend, prev, next, piece(r), nullptr, len);
      op.prescale = prescale;
      b.add(op);
    }
    Op last = make_op(Prim::kRecvReduce, prev, -1, piece(team.rank), dst + base * elem, len);
    last.prescale = prescale;
    last.finalize = true;
    b.add(last);
  }
}

// ---- rooted and exchange collectives ----

void gather_direct(Builder& b, const Call& call) {
  Team& team = b.team;
  const size_t bytes = call.count * b.elem();
  const std::byte* src = bytes_of(call.send);
  if (team.rank != call.root) {
    b.add(make_op(Prim::kSend, -1, call.root, src, nullptr, bytes));
    return;
  }
  std::byte* dst = bytes_of(call.recv);
  Step step;
  std::byte* own = dst + bytes * team.rank;
  if (own != src && bytes > 0) step.local = [=] { std::memmove(own, src, bytes); };
  for (int peer = 0; peer < team.nranks; ++peer)
    if (peer != team.rank)
      step.ops.push_back(make_op(Prim::kRecv, peer, -1, nullptr, dst + bytes * peer, bytes));
  b.plan.steps.push_back(std::move(step));
}

void scatter_direct(Builder& b, const Call& call) {
  Team& team = b.team;
  const size_t bytes = call.count * b.elem();
  std::byte* dst = bytes_of(call.recv);
  if (team.rank != call.root) {
    b.add(make_op(Prim::kRecv, call.root, -1, nullptr, dst, bytes));
    return;
  }
  const std::byte* src = bytes_of(call.send);
  Step step;
  const std::byte* own = src + bytes * team.rank;
  if (own != dst && bytes > 0) step.local = [=] { std::memmove(dst, own, bytes); };
  for (int peer = 0; peer < team.nranks; ++peer)
    if (peer != team.rank)
      step.ops.push_back(make_op(Prim::kSend, -1, peer, src + bytes * peer, nullptr, bytes));
  b.plan.steps.push_back(std::move(step));
}

// In-place all-to-all of up to this many bytes (the whole buffer) copies it
// and exchanges with every peer at once; larger ones exchange pairwise.
constexpr size_t kInPlaceCopyMaxBytes = 64 << 10;

void alltoall_direct(Builder& b, const Call& call) {
  Team& team = b.team;
  const int n = team.nranks, me = team.rank;
  const size_t bytes = call.count * b.elem();
  const std::byte* src = bytes_of(call.send);
  std::byte* dst = bytes_of(call.recv);
  // In place, large: pairwise exchanges, one peer per step (at step s rank r
  // meets (s - r) mod n, who meets r), each block sent before the peer's
  // block lands on it, so the buffer is never copied. Every pair meets once,
  // in the same step order on both sides. Small buffers are copied instead
  // and exchanged with every peer at once: n - 1 steps cost more than the
  // copy (4 ranks on 2 cores: 8.0 against 5.0 us at 1 KiB; from 64 KiB the
  // exchanges win, 18 against 26 ms at 64 MiB; docs/benchmarks-host.md).
  const size_t total = bytes * static_cast<size_t>(n);
  if (src == dst && total > kInPlaceCopyMaxBytes) {
    for (int s = 0; s < n; ++s) {
      const int peer = ((s - me) % n + n) % n;
      if (peer != me)
        b.add(make_op(Prim::kExchangeInPlace, peer, peer, nullptr, dst + bytes * peer, bytes));
    }
    return;
  }
  Step step;
  if (src == dst && bytes > 0) {
    // The copy is taken when the call runs: an earlier call of the same group
    // may still write the buffer.
    std::byte* copy = b.plan.scratch.emplace_back(total).data();
    step.local = [copy, dst, total] { std::memcpy(copy, dst, total); };
    src = copy;
  } else if (bytes > 0) {
    const std::byte* own_src = src + bytes * me;
    std::byte* own_dst = dst + bytes * me;
    step.local = [=] { std::memcpy(own_dst, own_src, bytes); };
  }
  // Start with the nearest peers in both directions so traffic spreads evenly.
  for (int d = 1; d < n; ++d) {
    int to = (me + d) % n;
    int from = (me - d + n) % n;
    step.ops.push_back(make_op(Prim::kSend, -1, to, src + bytes * to, nullptr, bytes));
    step.ops.push_back(make_op(Prim::kRecv, from, -1, nullptr, dst + bytes * from, bytes));
  }
  b.plan.steps.push_back(std::move(step));
}

}  // namespace

plan::Reduction reduction_for(const Call& call) { return reduction_of_call(call); }

bool uses_slots(const Call& call) {
  const Team& team = *call.team;
  const size_t bytes = call.count * type_size(call.type);
  if (team.nranks < 2) return false;
  if (call.kind == CallKind::kAlltoAll) return slots_fit(team, bytes * size_t(team.nranks));
  return call.kind == CallKind::kAllReduce && slots_fit(team, bytes) &&
         plan::choose_host_allreduce(team.allreduce, bytes, team.nranks, team.nhosts()) ==
             plan::HostAllReduce::kOneShot;
}

Plan build_collective(const Call& call) {
  Plan plan;
  plan.team = call.team;
  plan.reduction = reduction_of_call(call);
  Builder b{plan, *call.team};
  Team& team = *call.team;
  const size_t bytes = call.count * b.elem();
  switch (call.kind) {
    case CallKind::kAllReduce:
      if (team.nranks == 1) {
        allreduce_ring(b, team.ring, bytes_of(call.send), bytes_of(call.recv), call.count,
                       is_premulsum(call), true);
        break;
      }
      switch (plan::choose_host_allreduce(team.allreduce, bytes, team.nranks, team.nhosts())) {
        case plan::HostAllReduce::kOneShot:
          if (uses_slots(call))
            collective_slots(b, call);
          else
            allreduce_oneshot(b, call);
          break;
        case plan::HostAllReduce::kRing:
          allreduce_ring(b, team.ring, bytes_of(call.send), bytes_of(call.recv), call.count,
                         is_premulsum(call), true);
          break;
        case plan::HostAllReduce::kHierarchical:
          allreduce_hierarchical(b, call);
          break;
      }
      break;
    case CallKind::kBroadcast:
      chain_broadcast(b, ring_from(team.ring, call.root), bytes_of(call.send), bytes_of(call.recv),
                      bytes);
      break;
    case CallKind::kReduce: {
      // The chain ends at the root: start right after it in ring order.
      auto chain =
          ring_from(team.ring, team.ring[(team.ring_position[call.root] + 1) % team.nranks]);
      chain_reduce(b, chain, bytes_of(call.send), bytes_of(call.recv), bytes, is_premulsum(call),
                   true);
      break;
    }
    case CallKind::kAllGather:
      allgather_ring(b, call);
      break;
    case CallKind::kReduceScatter:
      reduce_scatter_ring(b, call);
      break;
    case CallKind::kAlltoAll:
      if (uses_slots(call))
        collective_slots(b, call);
      else
        alltoall_direct(b, call);
      break;
    case CallKind::kGather:
      gather_direct(b, call);
      break;
    case CallKind::kScatter:
      scatter_direct(b, call);
      break;
    case CallKind::kSend:
    case CallKind::kRecv:
      throw_error(tdmInternalError, "send/recv go through build_point_to_point");
  }
  return plan;
}

Plan build_point_to_point(Team& team, std::span<const Call> calls) {
  Plan plan;
  plan.team = &team;
  Step step;
  // Sends to self pair with receives from self in call order: local copies.
  std::vector<const Call*> self_sends, self_recvs;
  for (const Call& call : calls) {
    const size_t bytes = call.count * type_size(call.type);
    if (call.root == team.rank) {
      (call.kind == CallKind::kSend ? self_sends : self_recvs).push_back(&call);
      continue;
    }
    if (call.kind == CallKind::kSend)
      step.ops.push_back(make_op(Prim::kSend, -1, call.root, bytes_of(call.send), nullptr, bytes));
    else
      step.ops.push_back(make_op(Prim::kRecv, call.root, -1, nullptr, bytes_of(call.recv), bytes));
  }
  if (self_sends.size() != self_recvs.size())
    throw_error(tdmInvalidUsage, "a group has ", self_sends.size(), " sends to self but ",
                self_recvs.size(), " receives from self; they must pair up");
  struct SelfCopy {
    const void* from;
    void* to;
    size_t bytes;
  };
  std::vector<SelfCopy> copies;
  for (size_t i = 0; i < self_sends.size(); ++i) {
    size_t sb = self_sends[i]->count * type_size(self_sends[i]->type);
    size_t rb = self_recvs[i]->count * type_size(self_recvs[i]->type);
    if (sb != rb)
      throw_error(tdmInvalidUsage, "send to self of ", sb, " bytes is matched with a receive of ",
                  rb, " bytes");
    copies.push_back({self_sends[i]->send, self_recvs[i]->recv, sb});
  }
  if (!copies.empty())
    step.local = [copies] {
      for (const SelfCopy& c : copies)
        if (c.bytes > 0) std::memmove(c.to, c.from, c.bytes);
    };
  plan.steps.push_back(std::move(step));
  return plan;
}

}  // namespace tdm::host
