#include "comm/comm.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <tuple>

#include "bootstrap/root.h"
#include "collectives/host/slots.h"
#include "device/device_query.h"
#include "plan/algorithm_choice.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm {

namespace {

// What each rank tells the others about itself at init.
struct RankInfo {
  uint64_t host_hash;
  int32_t pid;
  int32_t numa;        // NUMA node the process runs on, -1 unknown
  char gpu_busid[32];  // PCI bus id of the rank's CUDA device, empty without one
  char hostname[64];
  cpu_set_t cpus;  // where this process may run
};

// NUMA node of the CPU this thread runs on, from sysfs (cpuN/nodeM).
int current_numa_node() {
  int cpu = sched_getcpu();
  if (cpu < 0) return -1;
  std::error_code ec;
  std::filesystem::path dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("node", 0) == 0 && name.size() > 4 &&
        name.find_first_not_of("0123456789", 4) == std::string::npos)
      return std::stoi(name.substr(4));
  }
  return -1;
}

// This host's description, probed once per process (or read from TANDEM_TOPO_FILE).
const topo::HostTopology& local_topology() {
  static const topo::HostTopology host = topo::local_host();
  return host;
}

// Allgathers variable-size strings over the bootstrap.
std::vector<std::string> allgather_strings(bootstrap::Bootstrap& boot, const std::string& mine) {
  auto sizes = boot.allgather_value(static_cast<uint64_t>(mine.size()));
  const size_t block = *std::max_element(sizes.begin(), sizes.end());
  std::string padded = mine;
  padded.resize(block, '\0');
  std::string all(block * boot.nranks(), '\0');
  boot.allgather(std::as_bytes(std::span(padded)), std::as_writable_bytes(std::span(all)));
  std::vector<std::string> out;
  for (int r = 0; r < boot.nranks(); ++r) out.push_back(all.substr(r * block, sizes[r]));
  return out;
}

uint64_t fnv1a(std::string_view text, uint64_t hash = 1469598103934665603ULL) {
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  return hash;
}

// Same host = same hostname and boot id (containers may share a hostname).
uint64_t host_hash() {
  if (auto forced = env::get("TANDEM_HOSTID")) return fnv1a(*forced);
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  std::string boot_id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
  return fnv1a(boot_id, fnv1a(name));
}

void check_flag(int value, const char* name) {
  if (value != TDM_CONFIG_UNDEF_INT && value != 0 && value != 1)
    throw_error(tdmInvalidArgument, "config->", name, " must be 0 or 1, got ", value);
}

void validate_config(const tdmConfig_t& config) {
  check_flag(config.blocking, "blocking");
  check_flag(config.splitShare, "splitShare");
  check_flag(config.collnetEnable, "collnetEnable");
  check_flag(config.shrinkShare, "shrinkShare");
  check_flag(config.nvlinkCentricSched, "nvlinkCentricSched");
  if (config.CTAPolicy != TDM_CONFIG_UNDEF_INT &&
      (config.CTAPolicy & ~(TDM_CTA_POLICY_EFFICIENCY | TDM_CTA_POLICY_ZERO)) != 0)
    throw_error(tdmInvalidArgument, "config->CTAPolicy ", config.CTAPolicy,
                " is not a combination of the TDM_CTA_POLICY_* flags");
}

// Groups ranks into hosts. TANDEM_RANKS_PER_HOST=k splits each real host into
// hosts of k consecutive local ranks, so one machine can exercise the network
// path and hierarchical algorithms.
void group_hosts(Comm& comm, const std::vector<RankInfo>& infos, int64_t ranks_per_host) {
  std::map<uint64_t, int> local_count;
  std::map<std::pair<uint64_t, int64_t>, int> host_index;
  comm.host_of_rank.resize(comm.nranks);
  for (int r = 0; r < comm.nranks; ++r) {
    int local = local_count[infos[r].host_hash]++;
    int64_t split = ranks_per_host > 0 ? local / ranks_per_host : 0;
    auto key = std::make_pair(infos[r].host_hash, split);
    auto [it, inserted] = host_index.try_emplace(key, static_cast<int>(host_index.size()));
    comm.host_of_rank[r] = it->second;
  }
  comm.host_ranks.assign(host_index.size(), {});
  for (int r = 0; r < comm.nranks; ++r) comm.host_ranks[comm.host_of_rank[r]].push_back(r);
}

// Job topology from every rank's host description; ring order and transport
// choices follow from it, identically on every rank.
void build_topology(Comm& comm, const std::vector<RankInfo>& infos) {
  auto described = allgather_strings(*comm.boot, topo::serialize(local_topology()));
  std::vector<topo::HostTopology> hosts;
  for (const auto& members : comm.host_ranks)
    hosts.push_back(topo::deserialize(described[members.front()]));
  std::vector<topo::RankPlacement> placements(comm.nranks);
  for (int r = 0; r < comm.nranks; ++r) {
    placements[r].host = comm.host_of_rank[r];
    placements[r].gpu =
        infos[r].gpu_busid[0] ? hosts[placements[r].host].gpu_by_busid(infos[r].gpu_busid) : -1;
    placements[r].numa = infos[r].numa;
  }
  comm.topology = topo::build(std::move(hosts), std::move(placements));
  comm.ring = topo::ring_order(comm.topology);
  comm.ring_position.resize(comm.nranks);
  for (int p = 0; p < comm.nranks; ++p) comm.ring_position[comm.ring[p]] = p;
  const topo::PathClass p2p_level = topo::p2p_level_from_env();
  comm.transport_choice.assign(comm.nranks, topo::TransportKind::kShm);
  for (int peer = 0; peer < comm.nranks; ++peer)
    if (peer != comm.rank)
      comm.transport_choice[peer] =
          topo::choose_transport(comm.topology, comm.rank, peer, p2p_level);
}

void connect_transports(Comm& comm) {
  const bool shm_disabled = comm.tuning.shm_disable != 0;
  std::vector<int> shm_peers, socket_peers;
  for (int peer = 0; peer < comm.nranks; ++peer) {
    if (peer == comm.rank) continue;
    // Host memory moves through shared memory whenever the topology allows a
    // local path (CUDA P2P peers share the host too); the network otherwise.
    bool local = comm.transport_choice[peer] != topo::TransportKind::kNet;
    (local && !shm_disabled ? shm_peers : socket_peers).push_back(peer);
  }
  // Both transports are collective: every rank connects both, perhaps to nobody.
  comm.links.resize(comm.nranks);
  comm.link_kind.assign(comm.nranks, "self");
  auto attach = [&](transport::Transport& t, const std::vector<int>& peers, size_t capacity) {
    auto links = t.connect(*comm.boot, peers, capacity);
    for (size_t i = 0; i < peers.size(); ++i) {
      comm.links[peers[i]] = std::move(links[i]);
      comm.link_kind[peers[i]] = t.name();
    }
  };
  auto shm = transport::make_shm_transport();
  auto socket = transport::make_socket_transport();
  attach(*shm, shm_peers, comm.tuning.shm_buffer_size);
  attach(*socket, socket_peers, comm.tuning.socket_buffer_size);
  // Ring chunks must fit the smallest link in use (see the ring algorithms).
  comm.link_capacity = comm.tuning.shm_buffer_size;
  if (!socket_peers.empty() || shm_peers.empty())
    comm.link_capacity = std::min<size_t>(comm.link_capacity, comm.tuning.socket_buffer_size);
  // Every rank reaches every other through shared memory: the small one-shot
  // allreduce goes through slots all of them map (collectives/host/slots.h).
  const bool all_shm = comm.nranks > 1 && static_cast<int>(shm_peers.size()) == comm.nranks - 1;
  const size_t slot = std::min<uint64_t>(comm.allreduce.oneshot_max_bytes, host::kMaxSlotBytes);
  bool everyone = true;
  for (uint8_t yes : comm.boot->allgather_value<uint8_t>(all_shm && slot > 0)) everyone &= yes != 0;
  if (everyone) {
    comm.slot_bytes = host::slot_data_bytes(slot);
    comm.slots = transport::map_shared_by_all(*comm.boot, host::slots_region_bytes(comm));
  }
}

}  // namespace

std::optional<tdmConfig_t> read_config(const tdmConfig_t* config) {
  if (config == nullptr) return std::nullopt;
  // The header fields first: size tells how much more of the struct exists.
  constexpr size_t kHeader = offsetof(tdmConfig_t, blocking);
  size_t size = 0;
  unsigned magic = 0;
  std::memcpy(&size, &config->size, sizeof size);
  std::memcpy(&magic, &config->magic, sizeof magic);
  // Every NCCL version's config holds at least the fields up to commName.
  if (magic != TDM_CONFIG_MAGIC || size < offsetof(tdmConfig_t, commName))
    throw_error(tdmInvalidArgument,
                "config was not initialized with TDM_CONFIG_INITIALIZER (bad magic or size)");
  tdmConfig_t copy = TDM_CONFIG_INITIALIZER;
  std::memcpy(reinterpret_cast<std::byte*>(&copy) + kHeader,
              reinterpret_cast<const std::byte*>(config) + kHeader,
              std::min(size, sizeof(tdmConfig_t)) - kHeader);
  validate_config(copy);
  return copy;
}

std::unique_ptr<Comm> create_comm(const tdmUniqueId& id, int nranks, int rank,
                                  const tdmConfig_t* caller_config) {
  const std::optional<tdmConfig_t> read = read_config(caller_config);
  const tdmConfig_t* config = read ? &*read : nullptr;
  log::check_env();
  auto comm = std::make_unique<Comm>();
  comm->rank = rank;
  comm->nranks = nranks;
  if (config && config->blocking == 0) comm->blocking = false;
  comm->boot = bootstrap::Bootstrap::connect(id, rank, nranks, &comm->abort);
  char nonce_text[32];
  std::snprintf(nonce_text, sizeof(nonce_text), "%016llx",
                static_cast<unsigned long long>(comm->boot->nonce()));
  comm->name = config && config->commName ? config->commName : nonce_text;
  log::set_rank(rank);

  RankInfo mine{};
  mine.host_hash = host_hash();
  mine.pid = getpid();
  mine.numa = current_numa_node();
  device::cuda_device_busid(mine.gpu_busid, sizeof(mine.gpu_busid));
  gethostname(mine.hostname, sizeof(mine.hostname) - 1);
  if (sched_getaffinity(0, sizeof(mine.cpus), &mine.cpus) != 0) CPU_ZERO(&mine.cpus);
  auto infos = comm->boot->allgather_value(mine);

  // Wire-relevant settings: rank 0's environment decides for everybody.
  Comm::Tuning tuning{};
  // Link buffers: at least a page, at most 1 GiB per link and direction (the
  // shared-memory one is mapped once per local peer), rounded down to pages.
  auto link_buffer = [](const char* name, uint64_t fallback) {
    return env::get_size(name, fallback, 4 << 10, 1 << 30) & ~uint64_t(4095);
  };
  tuning.shm_buffer_size = link_buffer("TANDEM_SHM_BUFFER_SIZE", 1 << 20);
  tuning.socket_buffer_size = link_buffer("TANDEM_SOCKET_BUFFER_SIZE", 4 << 20);
  tuning.allreduce = plan::host_allreduce_settings_from_env();
  tuning.ranks_per_host =
      static_cast<int32_t>(env::get_int("TANDEM_RANKS_PER_HOST", 0, 0, INT32_MAX));
  tuning.shm_disable = env::get_bool("TANDEM_SHM_DISABLE", false) ? 1 : 0;
  auto tunings = comm->boot->allgather_value(tuning);
  comm->tuning = tunings[0];
  comm->allreduce = comm->tuning.allreduce;

  group_hosts(*comm, infos, comm->tuning.ranks_per_host);
  build_topology(*comm, infos);
  // Spin while waiting only when this machine's ranks have a core each: the
  // cores any of them may run on (mpirun binds each rank to one core, so one
  // process's own mask says little) against how many ranks share them.
  int same_machine = 0;
  cpu_set_t cores_used;
  CPU_ZERO(&cores_used);
  for (const RankInfo& info : infos) {
    if (info.host_hash != mine.host_hash) continue;
    ++same_machine;
    CPU_OR(&cores_used, &cores_used, &info.cpus);
  }
  const int cores = std::max(CPU_COUNT(&cores_used), 1);
  comm->spin_before_yield = static_cast<unsigned>(
      env::get_int("TANDEM_SPIN", same_machine > cores ? 0 : 1000, 0, UINT32_MAX));
  connect_transports(*comm);
  comm->cuda_device = device::current_cuda_device();
  // The CUDA engine needs a device on every rank (its setup is collective).
  bool every_rank_has_gpu = true;
  for (const RankInfo& info : infos) every_rank_has_gpu = every_rank_has_gpu && info.gpu_busid[0];
  comm->cuda = cuda_side::create(*comm, every_rank_has_gpu);
  if (log::enabled(log::Level::kInfo, "INIT")) {
    std::string choices, ring;
    for (int peer = 0; peer < nranks; ++peer)
      if (peer != rank)
        choices += " " + std::to_string(peer) + ":" + comm->link_kind[peer] + "(" +
                   topo::to_string(comm->topology.path(rank, peer).cls) + ")";
    for (int r : comm->ring) ring += " " + std::to_string(r);
    TDM_INFO("INIT", "comm ", comm->name, " rank ", rank, "/", nranks, " on host ", comm->host(),
             " of ", comm->nhosts(), "; ring", ring, "; links", choices);
  }
  return comm;
}

void Comm::note_device_failure() {
  if (async_error.code() == tdmSuccess && cuda_side::timed_out(*this))
    async_error.record(tdmRemoteError, "a device wait on a peer gave up after TANDEM_TIMEOUT");
}

namespace {
// Forms the communicator of `members` (parent ranks, in new-rank order; the
// caller among them): the first member serves a rendezvous and tells the
// others its id over the parent's mesh. Only the members take part.
std::unique_ptr<Comm> form_subcomm(Comm& parent, const std::vector<int>& members,
                                   const tdmConfig_t* config) {
  const int new_rank =
      static_cast<int>(std::find(members.begin(), members.end(), parent.rank) - members.begin());
  const int leader = members.front();
  tdmUniqueId id{};
  if (parent.rank == leader) {
    bootstrap::SocketAddress where = parent.boot->address_of(parent.rank);
    reinterpret_cast<sockaddr_in*>(&where.storage)->sin_port = 0;
    auto server = bootstrap::RootServer::start(1, &where);
    id = server->id();
    bootstrap::RootServer::detach(std::move(server));
    for (int m : members)
      if (m != leader) parent.boot->send(m, as_bytes_of(id));
  } else {
    parent.boot->recv(leader, as_writable_bytes_of(id));
  }
  tdmConfig_t inherited = TDM_CONFIG_INITIALIZER;
  inherited.blocking = parent.blocking ? 1 : 0;
  return create_comm(id, static_cast<int>(members.size()), new_rank, config ? config : &inherited);
}
}  // namespace

std::unique_ptr<Comm> shrink_comm(Comm& parent, std::span<const int> exclude,
                                  const tdmConfig_t* config) {
  read_config(config);  // a bad config fails before any peer is involved
  std::vector<bool> excluded(parent.nranks, false);
  for (int r : exclude) {
    if (r < 0 || r >= parent.nranks)
      throw_error(tdmInvalidArgument, "excluded rank ", r, " is out of range for ", parent.nranks,
                  " ranks");
    excluded[r] = true;
  }
  if (excluded[parent.rank])
    throw_error(tdmInvalidArgument, "rank ", parent.rank,
                " is in excludeRanksList: excluded ranks do not call tdmCommShrink");
  std::vector<int> members;
  for (int r = 0; r < parent.nranks; ++r)
    if (!excluded[r]) members.push_back(r);
  return form_subcomm(parent, members, config);
}

std::unique_ptr<Comm> split_comm(Comm& parent, int color, int key, const tdmConfig_t* config) {
  read_config(config);
  if (color < 0 && color != TDM_SPLIT_NOCOLOR)
    throw_error(tdmInvalidArgument, "color must be >= 0 or TDM_SPLIT_NOCOLOR, got ", color);
  struct Entry {
    int32_t color, key;
  };
  auto entries = parent.boot->allgather_value(Entry{color, key});
  if (color == TDM_SPLIT_NOCOLOR) return nullptr;
  std::vector<int> members;
  for (int r = 0; r < parent.nranks; ++r)
    if (entries[r].color == color) members.push_back(r);
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) {
    return std::tie(entries[a].key, a) < std::tie(entries[b].key, b);
  });
  return form_subcomm(parent, members, config);
}

}  // namespace tdm
