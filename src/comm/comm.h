// The communicator: the team collectives run on (plan::Team) plus what the
// C API needs on top: its CUDA side, the topology it was built from, the
// asynchronous error, custom reduction ops, and the settings agreed at init.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "comm/async_error.h"
#include "comm/cuda_side.h"
#include "plan/team.h"
#include "tandem/tandem.h"
#include "topo/topology.h"

namespace tdm {

struct PremulSumOp {
  tdmDataType_t type;
  tdmScalarResidence_t residence;
  std::array<std::byte, 8> value{};  // HostImmediate: the scalar itself
  const void* pointer = nullptr;     // ScalarDevice residence on host memory: read per call
};

struct Comm : plan::Team {
  int cuda_device = -1;
  bool blocking = true;
  std::atomic<bool> finalized{false};
  AsyncError async_error;

  std::vector<std::string> link_kind;  // by peer, for logs and tests

  // What the job runs on: hosts, devices, every rank pair's path class; the
  // transport per peer and the ring order are chosen from it.
  topo::JobTopology topology;
  std::vector<topo::TransportKind> transport_choice;  // by peer (self: kShm)

  // Choices that change what goes on the wire, agreed at init (rank 0's
  // environment wins) so ranks with different settings still match.
  struct Tuning {
    uint64_t shm_buffer_size;               // TANDEM_SHM_BUFFER_SIZE: ring per shm link
    uint64_t socket_buffer_size;            // TANDEM_SOCKET_BUFFER_SIZE: staging per socket link
    plan::HostAllReduceSettings allreduce;  // TANDEM_ONESHOT_MAX_BYTES, TANDEM_ALLREDUCE_ALGO
    int32_t ranks_per_host;                 // TANDEM_RANKS_PER_HOST: 0 = real hosts
    int32_t shm_disable;                    // TANDEM_SHM_DISABLE: sockets between local ranks too
  } tuning{};

  // Symmetric heap, CUDA engine, windows: created at init when every rank
  // has a CUDA device; null otherwise (and always in a build without CUDA).
  CudaSidePtr cuda;

  std::mutex ops_mutex;
  std::map<int, PremulSumOp> custom_ops;  // key: tdmRedOp_t value
  int next_custom_op = tdmNumOps;

  // Records the first asynchronous error, also noticing a device wait that
  // gave up (the CUDA context is then lost).
  void note_device_failure();
};

// The communicator a team belongs to (every team is a communicator's).
inline Comm& comm_of(plan::Team& team) { return static_cast<Comm&>(team); }

// Collective: builds a communicator for `rank` of `nranks` from the unique id.
std::unique_ptr<Comm> create_comm(const tdmUniqueId& id, int nranks, int rank,
                                  const tdmConfig_t* config);
// Collective over `parent`: the new communicator of this rank's color, or null for NOCOLOR.
std::unique_ptr<Comm> split_comm(Comm& parent, int color, int key, const tdmConfig_t* config);
// Collective over the ranks of `parent` not in `exclude` (only they call it):
// their communicator, ranked in parent order.
std::unique_ptr<Comm> shrink_comm(Comm& parent, std::span<const int> exclude,
                                  const tdmConfig_t* config);
// A caller's config read by its size (shorter and longer structs of other
// header versions): the fields it covers over the defaults, checked; nullopt for null.
std::optional<tdmConfig_t> read_config(const tdmConfig_t* config);

}  // namespace tdm
