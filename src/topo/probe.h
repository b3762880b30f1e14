// The probes of this host that discover() assembles into a HostTopology: PCI
// attributes from sysfs (sysfs.cc), CPUs (probe_cpus.cc), hwloc
// (probe_hwloc.cc), GPUs (probe_gpus.cc) and NICs (probe_nics.cc). Internal to
// discovery; what unit tests use is in topo/discover.h.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "topo/discover.h"
#include "topo/topology.h"

#ifdef TANDEM_HAVE_HWLOC
#include <hwloc.h>
#endif

namespace tdm::topo::detail {

// ---- PCI attributes from sysfs (sysfs.cc) ----

// A hex attribute ("class", "vendor", ...) of the device in `dir`; 0 when unreadable.
uint32_t sysfs_hex(const std::string& dir, const char* file);
// "/sys/bus/pci/devices/<busid>"
std::string sysfs_dir(const std::string& busid);
// The device's NUMA node, else that of the nearest bridge above it; -1: unknown.
int sysfs_numa(const std::string& busid);
// Fills the ids, class and link of `d` that are still unset.
void fill_from_sysfs(PciDevice& d);

// ---- CPUs (probe_cpus.cc) ----

// Fills arch, vendor, family and model where unset, from the first processor.
void fill_cpu_identity(std::vector<Cpu>& cpus);

// ---- hwloc (probe_hwloc.cc) ----

#ifdef TANDEM_HAVE_HWLOC
// This host's topology as hwloc loads it, I/O devices included; false when it
// could not load.
class Hwloc {
 public:
  Hwloc();
  ~Hwloc();
  Hwloc(const Hwloc&) = delete;
  Hwloc& operator=(const Hwloc&) = delete;
  explicit operator bool() const { return topo_ != nullptr; }

  std::vector<Cpu> cpus() const;

  // Bridges from the root port down to the device, then the device.
  std::vector<detail::PciChainEntry> chain(const std::string& busid) const;

  int numa_of(const std::string& busid) const;

 private:
  static detail::PciChainEntry entry(const hwloc_obj_attr_u::hwloc_pcidev_attr_s& a);

  hwloc_topology_t topo_ = nullptr;
};
#endif

// ---- GPUs (probe_gpus.cc) ----

struct GpuProbe {
  std::string busid;
  int dev = -1;
  int sm = 0;
  std::vector<NvLink> nvlinks;
};

struct GpuProbeResult {
  std::vector<GpuProbe> gpus;
  std::vector<std::pair<std::string, std::string>> refused_p2p;  // bus id pairs
};

// GPUs the CUDA runtime and NVML see; an INFO line for each that is missing.
GpuProbeResult probe_gpus();
// Whether GPUDirect RDMA through the peer-memory module is available.
bool gdr_available();

// ---- NICs (probe_nics.cc) ----

struct NicProbe {
  std::string name, busid, link_layer;
  int port = 1;
  double speed_mbps = 0;
  uint64_t guid = 0;
  int numa = -1;
  int maxconn = 0;
  bool rdma = false;
};

// Active InfiniBand/RoCE ports, through libibverbs and sysfs.
std::vector<NicProbe> probe_ib();
// Physical Ethernet netdevs that are up.
std::vector<NicProbe> probe_netdevs();

}  // namespace tdm::topo::detail
