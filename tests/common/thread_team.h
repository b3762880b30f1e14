// A plan::Team per thread, with real shared-memory links between the
// threads: what the host collectives run on, without a communicator. Links
// the collectives/host layer (or above).
#pragma once

#include <memory>
#include <numeric>
#include <vector>

#include "collectives/host/slots.h"
#include "plan/team.h"
#include "tests/common/thread_ranks.h"

namespace tdm::testing {

struct TeamShape {
  int nranks = 2;
  size_t capacity = 4096;         // bytes per shm ring and direction
  std::vector<int> host_of_rank;  // empty: one host
  std::vector<int> ring;          // empty: rank order
  size_t slot_bytes = 0;          // > 0: one-host teams get shared slots (slots.h)
};

inline std::unique_ptr<plan::Team> make_team(const tdmUniqueId& id, int rank,
                                             const TeamShape& shape) {
  auto team = std::make_unique<plan::Team>();
  team->rank = rank;
  team->nranks = shape.nranks;
  team->name = "test team";
  team->boot = bootstrap::Bootstrap::connect(id, rank, shape.nranks, &team->abort);
  team->links = links_to_all(*transport::make_shm_transport(), *team->boot, shape.capacity);
  team->host_of_rank = shape.host_of_rank;
  if (team->host_of_rank.empty()) team->host_of_rank.assign(size_t(shape.nranks), 0);
  for (int r = 0; r < shape.nranks; ++r) {
    const size_t h = size_t(team->host_of_rank[size_t(r)]);
    if (team->host_ranks.size() <= h) team->host_ranks.resize(h + 1);
    team->host_ranks[h].push_back(r);
  }
  team->ring = shape.ring;
  if (team->ring.empty()) {
    team->ring.resize(size_t(shape.nranks));
    std::iota(team->ring.begin(), team->ring.end(), 0);
  }
  team->ring_position.resize(size_t(shape.nranks));
  for (int p = 0; p < shape.nranks; ++p) team->ring_position[size_t(team->ring[size_t(p)])] = p;
  team->link_capacity = shape.capacity;
  team->spin_before_yield = 0;  // more ranks than cores: yield at once
  team->allreduce = plan::HostAllReduceSettings{32 << 10, -1, 0};
  if (shape.slot_bytes > 0) {
    team->slot_bytes = host::slot_data_bytes(shape.slot_bytes);
    team->slots = transport::map_shared_by_all(*team->boot, host::slots_region_bytes(*team));
  }
  return team;
}

// Runs body(rank, team) on shape.nranks threads; returns each rank's error text.
template <typename F>
std::vector<std::string> with_teams(const TeamShape& shape, F body) {
  auto server = bootstrap::RootServer::start(1, nullptr);
  const tdmUniqueId id = server->id();
  return on_threads(shape.nranks, [&](int rank) {
    auto team = make_team(id, rank, shape);
    body(rank, *team);
  });
}

}  // namespace tdm::testing
