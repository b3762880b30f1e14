// Topology: what one host holds (CPUs/NUMA nodes, the PCI tree, GPUs with their
// NVLinks, NICs) and, for a job, how every pair of ranks is connected.
//
// The host model mirrors NCCL's topology XML (NCCL_TOPO_FILE / NCCL_TOPO_DUMP_FILE)
// so files users already keep load unchanged; docs/topology.md describes the
// format, the path classes and the bandwidth model.
//
// Flow: each rank calls local_host() (probe, or TANDEM_TOPO_FILE), the bootstrap
// allgathers serialize() of it, build() makes the JobTopology, and the planner asks
// path(), choose_transport(), ring_order() and JobTopology::nic().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tdm::topo {

// ---- path classes ----------------------------------------------------------

// Nearest first; TANDEM_P2P_LEVEL compares with <=, so the order is the contract.
enum class PathClass : int {
  kLOC = 0,  // same device
  kNVL,      // NVLink: direct, or through NVSwitch
  kNVB,      // NVLink through an intermediate GPU
  kPIX,      // PCIe through at most one switch
  kPXB,      // PCIe through several switches, not through the host bridge
  kPHB,      // through a CPU's PCIe host bridge / memory of one NUMA node
  kSYS,      // across the interconnect between NUMA nodes or sockets (UPI, xGMI)
  kNET,      // different hosts
  kDIS,      // not connected (unknown device)
};

const char* to_string(PathClass cls);
std::optional<PathClass> path_class_from_string(std::string_view name);

struct PathInfo {
  PathClass cls = PathClass::kDIS;
  double bw_GBps = 0;     // bottleneck bandwidth of one direction, GB/s (estimate)
  double latency_us = 0;  // one-way small-message latency (estimate)
  int nvlinks = 0;        // NVLinks on the bottleneck hop (nvidia-smi's NV#); 0 without NVLink
};

// ---- host model (one entry per element of NCCL's XML) -------------------------

// PCI class codes that matter to the model.
inline constexpr uint32_t kPciClassBridge = 0x060400;
inline constexpr uint32_t kPciClassNvSwitch = 0x068000;
inline constexpr uint32_t kPciClassGpu3d = 0x030200;

// One NUMA node (NCCL's <cpu>).
struct Cpu {
  int numa_id = -1;
  int package = -1;      // socket; -1 unknown (NCCL files lack it: each node its own socket)
  std::string affinity;  // cpumask as sysfs prints it: 32-bit hex words, most significant first
  std::string arch;      // x86_64, arm64, ppc64
  std::string vendor;    // GenuineIntel, AuthenticAMD, ...
  int family_id = 0;
  int model_id = 0;
};

// A <pci> element: a PCIe switch (represented, as in NCCL, by its upstream port)
// or an endpoint (GPU, NIC, NVSwitch).
struct PciDevice {
  std::string busid;  // "0000:1b:00.0", lower case
  int cpu = 0;        // index in HostTopology::cpus of the root complex
  int parent = -1;    // index in HostTopology::pci; -1 = on a root port of `cpu`
  uint32_t class_code = 0;
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem_device = 0;
  std::string link_speed;  // "32.0 GT/s PCIe" (sysfs max_link_speed)
  int link_width = 0;
};

struct NvLink {
  std::string target;         // bus id of the peer GPU or NVSwitch
  int count = 0;              // bonded links
  uint32_t target_class = 0;  // kPciClassNvSwitch for a switch, 0x03xxxx for a GPU
};

struct Gpu {
  int pci = -1;          // index in HostTopology::pci
  int dev = -1;          // CUDA ordinal in the process that probed; -1 = not visible to CUDA
  int sm = 0;            // compute capability * 10
  int rank = -1;         // as NCCL dumps carry it; informational
  bool gdr = false;      // GPUDirect RDMA possible
  double nvlink_bw = 0;  // GB/s per link per direction; 0 = derive from sm
  std::vector<NvLink> nvlinks;
  std::vector<int> no_p2p;  // indices in HostTopology::gpus known to refuse CUDA P2P
};

// One usable port of a network device (NCCL's <net>).
struct Nic {
  int pci = -1;  // index in HostTopology::pci; -1 = not on PCI (virtual), attached to `cpu`
  int cpu = 0;
  std::string name;  // mlx5_0, eth0
  int dev = 0;
  int port = 1;
  double speed_mbps = 0;
  double latency_us = 0;
  uint64_t guid = 0;
  int maxconn = 0;
  bool gdr = false;
  std::string link_layer;  // "InfiniBand", "Ethernet" (RoCE or socket), "" unknown
};

struct HostTopology {
  std::string hostname;
  std::vector<Cpu> cpus;  // never empty after discover()/load
  std::vector<PciDevice> pci;
  std::vector<Gpu> gpus;  // sorted by dev; invisible GPUs (dev -1) last
  std::vector<Nic> nics;  // sorted by dev

  int gpu_by_busid(std::string_view busid) const;  // -1 if absent
  int gpu_by_dev(int dev) const;
  int cpu_by_numa(int numa_id) const;
  int cpu_of_gpu(int gpu) const;
  int cpu_of_nic(int nic) const;
  const std::string& busid_of_gpu(int gpu) const;
};

// ---- obtaining a host description ------------------------------------------

// Probes this host. Every part is optional: a missing library (hwloc, NVML,
// libcudart, libibverbs) or device is an INFO line, never a failure.
HostTopology discover();
// TANDEM_TOPO_FILE when set, else discover(); then writes TANDEM_TOPO_DUMP_FILE when set.
HostTopology local_host();

// NCCL topology XML. Unknown elements and attributes are ignored; Tandem's own
// attributes carry a tdm_ prefix so NCCL still reads what Tandem writes.
HostTopology load_xml(const std::string& path);
void save_xml(const HostTopology& host, const std::string& path);
HostTopology from_xml_string(std::string_view text, std::string_view source = "<string>");
std::string to_xml_string(const HostTopology& host);

// Bytes for the bootstrap exchange (compact XML: one format to keep lossless).
std::string serialize(const HostTopology& host);
HostTopology deserialize(std::string_view bytes);

// ---- paths inside one host ----------------------------------------------------

struct Endpoint {
  enum class Kind { kGpu, kNic, kCpu };
  Kind kind;
  int index;  // in gpus, nics or cpus
};
PathInfo host_path(const HostTopology& host, Endpoint a, Endpoint b);

// NIC (index in nics) a GPU should use: nearest by class then bandwidth; GPUs
// at equal distance from several NICs are spread round-robin. -1 without NICs.
int nearest_nic(const HostTopology& host, int gpu);
// Same for a process without GPU on NUMA node `cpu` (index in cpus).
int nearest_nic_to_cpu(const HostTopology& host, int cpu, int spread = 0);

// ---- job view ----------------------------------------------------------------

struct RankPlacement {
  int host = 0;   // index in the hosts given to build()
  int gpu = -1;   // index in that host's gpus; -1 = rank without GPU
  int numa = -1;  // NUMA id the process runs on; -1 unknown (GPU ranks: the GPU's)
};

class JobTopology {
 public:
  JobTopology() = default;

  int nranks() const { return static_cast<int>(ranks_.size()); }
  int nhosts() const { return static_cast<int>(hosts_.size()); }
  const HostTopology& host(int h) const { return hosts_.at(h); }
  const std::vector<HostTopology>& hosts() const { return hosts_; }
  const RankPlacement& placement(int rank) const { return ranks_.at(rank); }
  const std::vector<int>& ranks_on_host(int h) const { return host_ranks_.at(h); }
  // Index in host(placement(rank).host).nics of the NIC the rank uses, -1 none.
  int nic(int rank) const { return rank_nic_.at(rank); }

  PathInfo path(int a, int b) const;

 private:
  friend JobTopology build(std::vector<HostTopology> hosts, std::vector<RankPlacement> ranks);
  std::vector<HostTopology> hosts_;
  std::vector<RankPlacement> ranks_;
  std::vector<std::vector<int>> host_ranks_;
  std::vector<int> rank_nic_;
};

// Validates the placements (throws tdmInvalidArgument naming the bad rank).
// Ranks may be empty: a job view of devices only (tandem-topo on one host).
JobTopology build(std::vector<HostTopology> hosts, std::vector<RankPlacement> ranks);

// ---- decisions ----------------------------------------------------------------

enum class TransportKind { kP2P, kShm, kNet };
const char* to_string(TransportKind kind);

// NCCL_P2P_LEVEL syntax: LOC, NVL, NVB, PIX, PXB, PHB, SYS, or the legacy
// integers 0..4 (LOC, PIX, PXB, PHB, SYS; larger = SYS). Throws on anything else.
PathClass parse_p2p_level(std::string_view text);
// TANDEM_P2P_LEVEL, default PXB (P2P through the CPU is slow or broken on many hosts).
PathClass p2p_level_from_env();

// Different hosts: kNet. Two GPUs whose path class is <= p2p_level and that do not
// refuse P2P: kP2P. Everything else on one host: kShm.
TransportKind choose_transport(const JobTopology& job, int a, int b, PathClass p2p_level);

// All ranks in ring order: each host's ranks contiguous (hosts in order of their
// lowest rank), inside a host consecutive ranks on the fastest links (maximizes the
// slowest hop, then fewest slow hops, then total bandwidth). Deterministic: every
// rank computes the same order from the same JobTopology.
std::vector<int> ring_order(const JobTopology& job);

}  // namespace tdm::topo
