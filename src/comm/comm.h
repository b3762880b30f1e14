// The communicator: who we are, how to reach every peer, and the state the C
// API needs (abort flag, async error, custom reduction ops).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "tandem/tandem.h"
#include "topo/topology.h"
#include "transports/transport.h"

namespace tdm {

namespace cuda {
class Engine;
}
// Out of line, so users of Comm need not see the CUDA engine's definition.
struct EngineDeleter {
  void operator()(cuda::Engine* engine) const;
};

struct PremulSumOp {
  tdmDataType_t type;
  tdmScalarResidence_t residence;
  std::array<std::byte, 8> value{};  // HostImmediate: the scalar itself
  const void* pointer = nullptr;     // ScalarDevice residence on host memory: read per call
};

struct Comm {
  int rank = 0;
  int nranks = 1;
  int cuda_device = -1;
  std::string name;
  bool blocking = true;

  std::atomic<bool> abort{false};
  std::atomic<tdmResult_t> async_error{tdmSuccess};
  std::string async_error_text;
  bool finalized = false;

  std::unique_ptr<bootstrap::Bootstrap> boot;
  std::vector<std::unique_ptr<transport::Link>> links;  // by peer; null for self
  std::vector<std::string> link_kind;                   // by peer, for logs and tests

  // What the job runs on: hosts, devices, every rank pair's path class; the
  // transport per peer and the ring order are chosen from it.
  topo::JobTopology topology;
  std::vector<topo::TransportKind> transport_choice;  // by peer (self: kShm)

  // Hosts as Tandem sees them (TANDEM_RANKS_PER_HOST can split a real host).
  std::vector<int> host_of_rank;             // host index per rank
  std::vector<std::vector<int>> host_ranks;  // ranks of each host, ascending
  std::vector<int> ring;                     // ring order of ranks (from the topology)
  std::vector<int> ring_position;            // position of each rank in `ring`
  size_t link_capacity = 1 << 20;            // smallest ring buffer of any link
  // Idle polls before the CPU engine yields the core: none when this host runs
  // more ranks than it has cores (the peer we wait for may need our core).
  unsigned spin_before_yield = 1000;

  // Choices that change what goes on the wire, agreed at init (rank 0's
  // environment wins) so ranks with different settings still match.
  struct Tuning {
    uint64_t shm_buffer_size;     // TANDEM_SHM_BUFFER_SIZE: ring per shm link
    uint64_t socket_buffer_size;  // TANDEM_SOCKET_BUFFER_SIZE: staging per socket link
    uint64_t oneshot_max_bytes;   // TANDEM_ONESHOT_MAX_BYTES
    int32_t allreduce_algo;       // TANDEM_ALLREDUCE_ALGO: -1 auto, else AllReduceAlgorithm
    int32_t ranks_per_host;       // TANDEM_RANKS_PER_HOST: 0 = real hosts
    int32_t shm_disable;          // TANDEM_SHM_DISABLE: sockets between local ranks too
    int32_t padding;
  } tuning{};

  // CUDA engine (symmetric heap, kernels): created at init when every rank
  // has a CUDA device; null otherwise.
  std::unique_ptr<cuda::Engine, EngineDeleter> engine;

  std::mutex ops_mutex;
  std::map<int, PremulSumOp> custom_ops;  // key: tdmRedOp_t value
  int next_custom_op = tdmNumOps;

  transport::Link& link(int peer) const { return *links[peer]; }
  int host() const { return host_of_rank[rank]; }
  int nhosts() const { return static_cast<int>(host_ranks.size()); }
};

// Collective: builds a communicator for `rank` of `nranks` from the unique id.
std::unique_ptr<Comm> create_comm(const tdmUniqueId& id, int nranks, int rank,
                                  const tdmConfig_t* config);
// Collective over `parent`: the new communicator of this rank's color, or null for NOCOLOR.
std::unique_ptr<Comm> split_comm(Comm& parent, int color, int key, const tdmConfig_t* config);

}  // namespace tdm
