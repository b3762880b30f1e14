// The devices and links of a job as a graph, shared by the JSON and DOT output:
// CPUs, PCI switches and devices, GPUs, NICs (one per port), NVSwitch, and the
// network between hosts.
#include <string>
#include <vector>

#include "topo/internal.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo::render_detail {

std::string host_prefix(int h) { return "h" + std::to_string(h) + "/"; }

Graph::Graph(const JobTopology& job) {
  for (int hidx = 0; hidx < job.nhosts(); ++hidx) add_host(job, hidx);
  network = job.nhosts() > 1;
  if (network)
    for (int hidx = 0; hidx < job.nhosts(); ++hidx)
      for (size_t n = 0; n < job.host(hidx).nics.size(); ++n)
        links.push_back({host_prefix(hidx) + "nic" + std::to_string(n), "network", "net", 0,
                         detail::nic_bw(job.host(hidx).nics[n])});
}

void Graph::add_host(const JobTopology& job, int hidx) {
  const HostTopology& h = job.host(hidx);
  HostIndex ix(job, hidx);
  const std::string pre = host_prefix(hidx);
  auto pci_id = [&](int p) -> std::string {
    int g = ix.gpu_at[static_cast<size_t>(p)];
    if (g >= 0) return pre + "gpu" + std::to_string(g);
    return pre + "pci/" + h.pci[static_cast<size_t>(p)].busid;
  };
  for (size_t c = 0; c < h.cpus.size(); ++c)
    devices.push_back({pre + "cpu" + std::to_string(c), hidx, "cpu", static_cast<int>(c), -1});
  for (size_t p = 0; p < h.pci.size(); ++p) {
    const PciDevice& d = h.pci[p];
    std::string parent = d.parent >= 0 ? pci_id(d.parent) : pre + "cpu" + std::to_string(d.cpu);
    double bw = detail::pcie_bw(d.link_speed, d.link_width);
    int g = ix.gpu_at[p];
    if (g >= 0) {
      devices.push_back({pci_id(static_cast<int>(p)), hidx, "gpu", g, static_cast<int>(p)});
      links.push_back({parent, pci_id(static_cast<int>(p)), "pcie", 0, bw});
    } else if (!ix.nics_at[p].empty()) {
      // A multi-port NIC is one device per port, each on the NIC's PCIe link.
      for (int n : ix.nics_at[p]) {
        std::string id = pre + "nic" + std::to_string(n);
        devices.push_back({id, hidx, "nic", n, static_cast<int>(p)});
        links.push_back({parent, id, "pcie", 0, bw});
      }
    } else {
      bool sw = (d.class_code >> 8) == (kPciClassBridge >> 8);
      devices.push_back(
          {pci_id(static_cast<int>(p)), hidx, sw ? "pci_switch" : "pci", -1, static_cast<int>(p)});
      links.push_back({parent, pci_id(static_cast<int>(p)), "pcie", 0, bw});
    }
  }
  for (size_t n = 0; n < h.nics.size(); ++n)
    if (h.nics[n].pci < 0) {
      std::string id = pre + "nic" + std::to_string(n);
      devices.push_back({id, hidx, "nic", static_cast<int>(n), -1});
      links.push_back(
          {pre + "cpu" + std::to_string(h.nics[n].cpu), id, "pcie", 0, detail::nic_bw(h.nics[n])});
    }
  if (ix.has_nvswitch) devices.push_back({pre + "nvswitch", hidx, "nvswitch", -1, -1});
  for (size_t g = 0; g < h.gpus.size(); ++g) {
    const Gpu& gpu = h.gpus[g];
    double per_link = detail::nvlink_bw_per_link(gpu);
    const int to_switch = detail::switch_nvlinks(gpu);
    for (const NvLink& l : gpu.nvlinks) {
      if (l.target_class == kPciClassNvSwitch) continue;
      int peer = h.gpu_by_busid(l.target);
      // Each GPU pair once, even when both sides list the link.
      if (peer < 0 ||
          (peer < static_cast<int>(g) &&
           has_link_to(h.gpus[static_cast<size_t>(peer)], h.busid_of_gpu(static_cast<int>(g)))))
        continue;
      links.push_back({pre + "gpu" + std::to_string(g), pre + "gpu" + std::to_string(peer),
                       "nvlink", l.count, l.count * per_link});
    }
    if (to_switch)
      links.push_back({pre + "gpu" + std::to_string(g), pre + "nvswitch", "nvlink", to_switch,
                       to_switch * per_link});
  }
  for (size_t a = 0; a < h.cpus.size(); ++a)
    for (size_t b = a + 1; b < h.cpus.size(); ++b)
      links.push_back({pre + "cpu" + std::to_string(a), pre + "cpu" + std::to_string(b), "smp", 0,
                       detail::cpu_interconnect_bw(h.cpus[a], h.cpus[b])});
}

bool Graph::has_link_to(const Gpu& g, const std::string& busid) {
  for (const NvLink& l : g.nvlinks)
    if (l.target == busid) return true;
  return false;
}

}  // namespace tdm::topo::render_detail
