// What the renderers share: number formats, what sits on each PCI device of a
// host and which ranks sit where, one-line descriptions of CPUs, links and NICs.
#include <cstdio>
#include <string>
#include <vector>

#include "topo/internal.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo::render_detail {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string hex4(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04x", v);
  return buf;
}

std::string hex_class(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%06x", v);
  return buf;
}

std::string join(const std::vector<int>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

HostIndex::HostIndex(const JobTopology& job, int hidx) {
  const HostTopology& h = job.host(hidx);
  gpu_at.assign(h.pci.size(), -1);
  nics_at.resize(h.pci.size());
  children.resize(h.pci.size());
  roots.resize(h.cpus.size());
  gpu_ranks.resize(h.gpus.size());
  cpu_ranks.resize(h.cpus.size() + 1);
  for (size_t i = 0; i < h.gpus.size(); ++i) {
    gpu_at[static_cast<size_t>(h.gpus[i].pci)] = static_cast<int>(i);
    for (const NvLink& l : h.gpus[i].nvlinks)
      if (l.target_class == kPciClassNvSwitch) has_nvswitch = true;
  }
  for (size_t i = 0; i < h.nics.size(); ++i)
    if (h.nics[i].pci >= 0)
      nics_at[static_cast<size_t>(h.nics[i].pci)].push_back(static_cast<int>(i));
  for (size_t i = 0; i < h.pci.size(); ++i) {
    const PciDevice& d = h.pci[i];
    if (d.parent >= 0)
      children[static_cast<size_t>(d.parent)].push_back(static_cast<int>(i));
    else
      roots[static_cast<size_t>(d.cpu)].push_back(static_cast<int>(i));
  }
  for (int r : job.ranks_on_host(hidx)) {
    const RankPlacement& p = job.placement(r);
    if (p.gpu >= 0) {
      gpu_ranks[static_cast<size_t>(p.gpu)].push_back(r);
    } else {
      int c = p.numa >= 0 ? h.cpu_by_numa(p.numa) : -1;
      cpu_ranks[c >= 0 ? static_cast<size_t>(c) : h.cpus.size()].push_back(r);
    }
  }
}

std::string cpu_list(const Cpu& c) {
  return detail::cpus_to_list(detail::affinity_to_cpus(c.affinity));
}

std::string pci_link(const PciDevice& d) {
  std::string s = d.link_speed.empty() ? std::string("link unknown") : d.link_speed;
  if (d.link_width > 0) s += " x" + std::to_string(d.link_width);
  return s + " (" + fixed(detail::pcie_bw(d.link_speed, d.link_width)) + " GB/s)";
}

std::string nic_line(const HostTopology& h, int n) {
  const Nic& x = h.nics[static_cast<size_t>(n)];
  std::string s = "NIC " + std::to_string(n) + " " + x.name;
  if (x.port > 0) s += " port " + std::to_string(x.port);
  if (x.pci >= 0) s += " " + h.pci[static_cast<size_t>(x.pci)].busid;
  s += ", " + fixed(x.speed_mbps / 1000.0, 0) + " Gb/s";
  if (!x.link_layer.empty()) s += " " + x.link_layer;
  if (x.gdr) s += ", GPUDirect RDMA";
  return s;
}

}  // namespace tdm::topo::render_detail
