// Finds out how this process was launched and what world it belongs to.
#pragma once

#include <memory>
#include <string>

#include "bootstrap/root.h"

namespace tdm::bootstrap {

struct World {
  tdmUniqueId id{};
  int rank = 0;
  int nranks = 1;
  std::string launcher;                // "tandemrun", "torchrun", "mpirun", "none"
  std::unique_ptr<RootServer> server;  // when this process hosts the rendezvous
};

// tandemrun (TANDEM_UNIQUE_ID + TANDEM_RANK/TANDEM_WORLD_SIZE), torchrun style
// (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; the root listens on
// TANDEM_ROOT_PORT, else MASTER_PORT, or MASTER_PORT+1 under real torchrun
// whose store holds MASTER_PORT), mpirun (OMPI_COMM_WORLD_*, PMI_*, PMIX_RANK:
// the id is broadcast with MPI through Tandem's MPI plugin), else one rank.
World resolve_world();

}  // namespace tdm::bootstrap
