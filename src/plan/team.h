// What collectives and their plans know of a communicator: who this rank is,
// the ring and the hosts, the links to peers, the agreed algorithm settings,
// and how to notice failure. The communicator (src/comm) extends it; nothing
// below the comm layer sees more of it.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "plan/algorithm_choice.h"
#include "transports/shm/shm_segment.h"
#include "transports/transport.h"

namespace tdm::plan {

struct Team {
  int rank = 0;
  int nranks = 1;
  std::string name;

  // Set by tdmCommAbort; every wait watches it.
  std::atomic<bool> abort{false};
  std::unique_ptr<bootstrap::Bootstrap> boot;
  std::vector<std::unique_ptr<transport::Link>> links;  // by peer; null for self

  // Hosts as Tandem sees them (TANDEM_RANKS_PER_HOST can split a real host).
  std::vector<int> host_of_rank;             // host index per rank
  std::vector<std::vector<int>> host_ranks;  // ranks of each host, ascending
  std::vector<int> ring;                     // ring order of ranks (from the topology)
  std::vector<int> ring_position;            // position of each rank in `ring`
  size_t link_capacity = 1 << 20;            // smallest ring buffer of any link
  // Idle polls before the CPU engine yields the core: none when this host runs
  // more ranks than it has cores (the peer we wait for may need our core).
  unsigned spin_before_yield = 1000;
  HostAllReduceSettings allreduce{};  // agreed at init (rank 0's environment)

  // Teams on one host with shared memory: a region every rank maps, holding
  // two slots per rank for the small one-shot collectives
  // (collectives/host/slots.h); empty otherwise.
  transport::Mapping slots;
  size_t slot_bytes = 0;    // data bytes per slot
  uint64_t slot_epoch = 0;  // calls that used the slots so far

  transport::Link& link(int peer) const { return *links[peer]; }
  int host() const { return host_of_rank[rank]; }
  int nhosts() const { return static_cast<int>(host_ranks.size()); }
};

}  // namespace tdm::plan
