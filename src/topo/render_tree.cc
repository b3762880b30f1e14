// The tree output: every host's CPUs with the PCI tree below each, GPUs with their
// NVLinks and ranks, NICs; then interconnect bandwidths, GPU pairs with CUDA P2P,
// and the ring order.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "topo/internal.h"
#include "topo/render.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo {

namespace {

using render_detail::cpu_list;
using render_detail::fixed;
using render_detail::hex4;
using render_detail::hex_class;
using render_detail::HostIndex;
using render_detail::join;
using render_detail::nic_line;
using render_detail::pci_link;

class Tree {
 public:
  Tree(const JobTopology& job, int hidx, std::ostringstream& out)
      : job_(job), h_(job.host(hidx)), ix_(job, hidx), out_(out) {}

  void print(int hidx) {
    out_ << "Host " << hidx << (h_.hostname.empty() ? "" : " " + h_.hostname) << ": "
         << h_.cpus.size() << " NUMA node(s), " << h_.gpus.size() << " GPU(s), " << h_.nics.size()
         << " NIC(s)";
    if (!job_.ranks_on_host(hidx).empty()) out_ << ", ranks " << join(job_.ranks_on_host(hidx));
    out_ << "\n";
    for (size_t c = 0; c < h_.cpus.size(); ++c) {
      const Cpu& cpu = h_.cpus[c];
      line(1) << "CPU " << c << ": NUMA " << cpu.numa_id;
      if (cpu.package >= 0) out_ << ", socket " << cpu.package;
      if (!cpu.vendor.empty())
        out_ << ", " << cpu.vendor << " family " << cpu.family_id << " model " << cpu.model_id;
      if (!cpu.arch.empty()) out_ << " (" << cpu.arch << ")";
      if (!cpu.affinity.empty()) out_ << ", CPUs " << cpu_list(cpu);
      out_ << "\n";
      if (!ix_.cpu_ranks[c].empty())
        line(2) << "ranks without GPU: " << join(ix_.cpu_ranks[c]) << "\n";
      for (int p : ix_.roots[c]) pci(p, 2);
      for (size_t n = 0; n < h_.nics.size(); ++n)
        if (h_.nics[n].pci < 0 && h_.nics[n].cpu == static_cast<int>(c))
          line(2) << nic_line(h_, static_cast<int>(n)) << "\n";
    }
    if (!ix_.cpu_ranks.back().empty())
      line(1) << "ranks without GPU, NUMA node unknown: " << join(ix_.cpu_ranks.back()) << "\n";
    if (ix_.has_nvswitch) {
      std::vector<int> gpus;
      for (size_t g = 0; g < h_.gpus.size(); ++g)
        for (const NvLink& l : h_.gpus[g].nvlinks)
          if (l.target_class == kPciClassNvSwitch) {
            gpus.push_back(static_cast<int>(g));
            break;
          }
      line(1) << "NVSwitch fabric: GPUs " << join(gpus) << "\n";
    }
    for (size_t a = 0; a < h_.cpus.size(); ++a)
      for (size_t b = a + 1; b < h_.cpus.size(); ++b)
        line(1) << "CPU " << a << " <-> CPU " << b << ": SYS "
                << fixed(detail::cpu_interconnect_bw(h_.cpus[a], h_.cpus[b])) << " GB/s\n";
    // Whether CUDA P2P carries each GPU pair: the driver must allow it and the
    // path must be within TANDEM_P2P_LEVEL.
    const PathClass level = p2p_level_from_env();
    for (size_t a = 0; a < h_.gpus.size(); ++a)
      for (size_t b = a + 1; b < h_.gpus.size(); ++b) {
        PathInfo p = host_path(h_, {Endpoint::Kind::kGpu, static_cast<int>(a)},
                               {Endpoint::Kind::kGpu, static_cast<int>(b)});
        const auto& refused = h_.gpus[a].no_p2p;
        bool driver_refuses =
            std::find(refused.begin(), refused.end(), static_cast<int>(b)) != refused.end();
        line(1) << "GPU " << a << " <-> GPU " << b << ": " << to_string(p.cls);
        if (p.nvlinks) out_ << " (" << p.nvlinks << " NVLinks)";
        out_ << ", " << fixed(p.bw_GBps) << " GB/s, CUDA P2P "
             << (driver_refuses   ? "refused by the driver"
                 : p.cls <= level ? "allowed"
                                  : "not used (beyond TANDEM_P2P_LEVEL)")
             << "\n";
      }
  }

 private:
  std::ostringstream& line(int depth) {
    out_ << std::string(static_cast<size_t>(depth) * 2, ' ');
    return out_;
  }

  void pci(int p, int depth) {
    const PciDevice& d = h_.pci[static_cast<size_t>(p)];
    std::string ids = "[" + hex4(d.vendor) + ":" + hex4(d.device) + "]";
    int g = ix_.gpu_at[static_cast<size_t>(p)];
    if (g >= 0) {
      const Gpu& gpu = h_.gpus[static_cast<size_t>(g)];
      line(depth) << "GPU " << g << " " << d.busid << " " << ids << " sm " << gpu.sm;
      out_ << ", CUDA dev "
           << (gpu.dev >= 0 ? std::to_string(gpu.dev) : std::string("not visible"));
      if (gpu.gdr) out_ << ", GPUDirect RDMA";
      out_ << ", " << pci_link(d);
      if (!ix_.gpu_ranks[static_cast<size_t>(g)].empty())
        out_ << ", rank " << join(ix_.gpu_ranks[static_cast<size_t>(g)]);
      out_ << "\n";
      double per_link = detail::nvlink_bw_per_link(gpu);
      const int to_switch = detail::switch_nvlinks(gpu);
      for (const NvLink& l : gpu.nvlinks) {
        if (l.target_class == kPciClassNvSwitch) continue;
        int peer = h_.gpu_by_busid(l.target);
        line(depth + 2) << "NVLink x" << l.count << " -> "
                        << (peer >= 0 ? "GPU " + std::to_string(peer) : "device " + l.target)
                        << " (" << fixed(l.count * per_link) << " GB/s)\n";
      }
      if (to_switch)
        line(depth + 2) << "NVLink x" << to_switch << " -> NVSwitch ("
                        << fixed(to_switch * per_link) << " GB/s)\n";
    } else if (!ix_.nics_at[static_cast<size_t>(p)].empty()) {
      for (int n : ix_.nics_at[static_cast<size_t>(p)])
        line(depth) << nic_line(h_, n) << " " << ids << "\n";
    } else {
      const char* what = (d.class_code >> 8) == (kPciClassBridge >> 8)     ? "PCIe switch"
                         : (d.class_code >> 8) == (kPciClassNvSwitch >> 8) ? "NVSwitch"
                                                                           : "PCI device";
      line(depth) << what << " " << d.busid << " " << ids << " class " << hex_class(d.class_code)
                  << ", " << pci_link(d) << "\n";
    }
    for (int c : ix_.children[static_cast<size_t>(p)]) pci(c, depth + 1);
  }

  const JobTopology& job_;
  const HostTopology& h_;
  HostIndex ix_;
  std::ostringstream& out_;
};

}  // namespace

std::string render_tree(const JobTopology& job) {
  std::ostringstream out;
  for (int h = 0; h < job.nhosts(); ++h) {
    if (h) out << "\n";
    Tree(job, h, out).print(h);
  }
  if (job.nranks() > 0) {
    out << "\nRing order: " << join(ring_order(job), " ") << "\n";
  }
  return out.str();
}

}  // namespace tdm::topo
