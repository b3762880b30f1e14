// Discovering this host: the probes (topo/probe.h) give CPUs/NUMA nodes, GPUs and
// NICs; this file builds the PCI tree above every device (hwloc, else sysfs) and
// assembles the HostTopology. Each missing piece is an INFO line and the rest
// still works.
#include "topo/discover.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>

#include "topo/internal.h"
#include "topo/probe.h"
#include "topo/topology.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace tdm::topo {

namespace {

using detail::fill_cpu_identity;
using detail::fill_from_sysfs;
using detail::gdr_available;
using detail::GpuProbe;
using detail::GpuProbeResult;
#ifdef TANDEM_HAVE_HWLOC
using detail::Hwloc;
#endif
using detail::NicProbe;
using detail::probe_gpus;
using detail::probe_ib;
using detail::probe_netdevs;
using detail::sysfs_dir;
using detail::sysfs_numa;

// ---- assembling ------------------------------------------------------------------------

class Builder {
 public:
  explicit Builder(HostTopology& host) : host_(host) {}

#ifdef TANDEM_HAVE_HWLOC
  void use_hwloc(const Hwloc* hw) { hwloc_ = hw; }
#endif

  int cpu_for_numa(int numa) const {
    int c = numa >= 0 ? host_.cpu_by_numa(numa) : -1;
    return c >= 0 ? c : 0;
  }

  // Adds the device and the switches above it; returns its index.
  int add_device(const std::string& busid, int numa_hint = -1) {
    if (auto it = index_.find(busid); it != index_.end()) return it->second;
    std::vector<detail::PciChainEntry> chain;
#ifdef TANDEM_HAVE_HWLOC
    if (hwloc_) chain = hwloc_->chain(busid);
#endif
    if (chain.empty()) {
      std::error_code ec;
      for (const std::string& id :
           detail::busids_in_path(fs::canonical(sysfs_dir(busid), ec).string())) {
        detail::PciChainEntry e;
        e.busid = id;
        chain.push_back(e);
      }
    }
    if (chain.empty() || chain.back().busid != busid) {
      // Not in sysfs (container without /sys/bus/pci): a device on its CPU.
      detail::PciChainEntry e;
      e.busid = busid;
      chain = {e};
    }
    for (auto& e : chain) {
      PciDevice d;
      d.busid = e.busid;
      fill_from_sysfs(d);
      if (!e.class_code) e.class_code = d.class_code;
      if (!e.vendor) e.vendor = d.vendor;
      if (!e.device) e.device = d.device;
      if (!e.subsystem_vendor) e.subsystem_vendor = d.subsystem_vendor;
      if (!e.subsystem_device) e.subsystem_device = d.subsystem_device;
    }
    std::vector<detail::PciChainEntry> kept;
    detail::collapse_pci_chain(chain, &kept);

    int numa = sysfs_numa(busid);
#ifdef TANDEM_HAVE_HWLOC
    if (numa < 0 && hwloc_) numa = hwloc_->numa_of(busid);
#endif
    if (numa < 0) numa = numa_hint;
    int cpu = cpu_for_numa(numa);
    int parent = -1;
    for (const auto& e : kept) {
      auto it = index_.find(e.busid);
      if (it == index_.end()) {
        PciDevice d;
        d.busid = e.busid;
        d.cpu = cpu;
        d.parent = parent;
        d.class_code = e.class_code;
        d.vendor = e.vendor;
        d.device = e.device;
        d.subsystem_vendor = e.subsystem_vendor;
        d.subsystem_device = e.subsystem_device;
        fill_from_sysfs(d);
        it = index_.emplace(e.busid, static_cast<int>(host_.pci.size())).first;
        host_.pci.push_back(std::move(d));
      }
      parent = it->second;
    }
    return parent;
  }

 private:
  HostTopology& host_;
  std::map<std::string, int> index_;
#ifdef TANDEM_HAVE_HWLOC
  const Hwloc* hwloc_ = nullptr;
#endif
};

}  // namespace

HostTopology discover() {
  HostTopology host;
  char name[HOST_NAME_MAX + 1] = {0};
  if (gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;

  Builder builder(host);
#ifdef TANDEM_HAVE_HWLOC
  Hwloc hw;
  if (hw) {
    host.cpus = hw.cpus();
    builder.use_hwloc(&hw);
  } else {
    TDM_INFO("TOPO", "hwloc could not load the topology: reading sysfs instead");
  }
#else
  TDM_INFO("TOPO", "built without hwloc: reading CPUs and the PCI tree from sysfs");
#endif
  if (host.cpus.empty()) host.cpus = detail::cpus_from_sysfs();
  fill_cpu_identity(host.cpus);

  const bool gdr = gdr_available();
  GpuProbeResult gpus = probe_gpus();
  std::vector<NicProbe> nics = probe_ib();
  if (nics.empty()) nics = probe_netdevs();

  for (const GpuProbe& p : gpus.gpus) {
    Gpu g;
    g.pci = builder.add_device(p.busid);
    g.dev = p.dev;
    g.sm = p.sm;
    g.nvlinks = p.nvlinks;
    g.gdr = gdr;
    host.gpus.push_back(std::move(g));
  }
  // NVSwitches visible on PCI join the tree (NVLink targets that are not GPUs).
  for (const GpuProbe& p : gpus.gpus)
    for (const NvLink& l : p.nvlinks) {
      std::error_code ec;
      if (l.target_class == kPciClassNvSwitch && fs::exists(sysfs_dir(l.target), ec))
        builder.add_device(l.target);
    }
  for (const auto& [a, b] : gpus.refused_p2p) {
    int ia = host.gpu_by_busid(a), ib = host.gpu_by_busid(b);
    if (ia < 0 || ib < 0) continue;
    auto& list = host.gpus[static_cast<size_t>(ia)].no_p2p;
    if (std::find(list.begin(), list.end(), ib) == list.end()) list.push_back(ib);
  }
  int dev = 0;
  for (const NicProbe& p : nics) {
    Nic n;
    n.name = p.name;
    n.dev = dev++;
    n.port = p.port;
    n.speed_mbps = p.speed_mbps;
    n.guid = p.guid;
    n.maxconn = p.maxconn;
    n.link_layer = p.link_layer;
    n.gdr = gdr && p.rdma;
    if (!p.busid.empty())
      n.pci = builder.add_device(p.busid, p.numa);
    else
      n.cpu = builder.cpu_for_numa(p.numa);
    host.nics.push_back(std::move(n));
  }
  detail::normalize(host, "topology discovery");
  TDM_INFO("TOPO", "host ", host.hostname, ": ", host.cpus.size(), " NUMA nodes, ",
           host.gpus.size(), " GPUs, ", host.nics.size(), " NICs, ", host.pci.size(),
           " PCI devices");
  return host;
}

HostTopology local_host() {
  HostTopology host;
  if (auto file = env::get("TANDEM_TOPO_FILE")) {
    host = load_xml(*file);
    if (host.hostname.empty()) {
      char name[HOST_NAME_MAX + 1] = {0};
      if (gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;
    }
    TDM_INFO("TOPO", "topology read from TANDEM_TOPO_FILE=", *file);
  } else {
    host = discover();
  }
  if (auto dump = env::get("TANDEM_TOPO_DUMP_FILE")) {
    save_xml(host, *dump);
    TDM_INFO("TOPO", "topology written to TANDEM_TOPO_DUMP_FILE=", *dump);
  }
  return host;
}

}  // namespace tdm::topo
