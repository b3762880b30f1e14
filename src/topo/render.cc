#include "topo/render.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "topo/internal.h"

namespace tdm::topo {

namespace {

std::string fixed(double v, int digits = 1) {
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

std::string join(const std::vector<int>& v, const char* sep = ",") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

// What each PCI device of a host is, and which ranks sit on which device.
struct HostIndex {
  std::vector<int> gpu_at;                 // pci -> gpu index or -1
  std::vector<std::vector<int>> nics_at;   // pci -> nic indices
  std::vector<std::vector<int>> children;  // pci -> child pci
  std::vector<std::vector<int>> roots;     // cpu -> top-level pci
  std::vector<std::vector<int>> gpu_ranks;
  std::vector<std::vector<int>> cpu_ranks;  // ranks without GPU, by cpu (unknown: last)
  bool has_nvswitch = false;

  HostIndex(const JobTopology& job, int hidx) {
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
};

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

// ---- tree -------------------------------------------------------------------------

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
      int to_switch = 0;
      for (const NvLink& l : gpu.nvlinks) {
        if (l.target_class == kPciClassNvSwitch) {
          to_switch += l.count;
          continue;
        }
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

std::string matrix_cell(const PathInfo& p) {
  if (p.cls == PathClass::kNVL) return "NV" + std::to_string(p.nvlinks);
  return to_string(p.cls);
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

// ---- graph shared by JSON and DOT -------------------------------------------------

struct Device {
  std::string id;
  int host = -1;
  std::string type;  // cpu, pci_switch, pci, gpu, nic, nvswitch
  int index = -1;    // cpu/gpu/nic index inside the host
  int pci = -1;
};

struct Link {
  std::string a, b, type;  // pcie, nvlink, smp, net
  int count = 0;
  double bw = 0;
};

std::string host_prefix(int h) { return "h" + std::to_string(h) + "/"; }

struct Graph {
  std::vector<Device> devices;
  std::vector<Link> links;
  bool network = false;

  explicit Graph(const JobTopology& job) {
    for (int hidx = 0; hidx < job.nhosts(); ++hidx) add_host(job, hidx);
    network = job.nhosts() > 1;
    if (network)
      for (int hidx = 0; hidx < job.nhosts(); ++hidx)
        for (size_t n = 0; n < job.host(hidx).nics.size(); ++n)
          links.push_back({host_prefix(hidx) + "nic" + std::to_string(n), "network", "net", 0,
                           detail::nic_bw(job.host(hidx).nics[n])});
  }

  void add_host(const JobTopology& job, int hidx) {
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
        devices.push_back({pci_id(static_cast<int>(p)), hidx, sw ? "pci_switch" : "pci", -1,
                           static_cast<int>(p)});
        links.push_back({parent, pci_id(static_cast<int>(p)), "pcie", 0, bw});
      }
    }
    for (size_t n = 0; n < h.nics.size(); ++n)
      if (h.nics[n].pci < 0) {
        std::string id = pre + "nic" + std::to_string(n);
        devices.push_back({id, hidx, "nic", static_cast<int>(n), -1});
        links.push_back({pre + "cpu" + std::to_string(h.nics[n].cpu), id, "pcie", 0,
                         detail::nic_bw(h.nics[n])});
      }
    if (ix.has_nvswitch) devices.push_back({pre + "nvswitch", hidx, "nvswitch", -1, -1});
    for (size_t g = 0; g < h.gpus.size(); ++g) {
      const Gpu& gpu = h.gpus[g];
      double per_link = detail::nvlink_bw_per_link(gpu);
      int to_switch = 0;
      for (const NvLink& l : gpu.nvlinks) {
        if (l.target_class == kPciClassNvSwitch) {
          to_switch += l.count;
          continue;
        }
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

  static bool has_link_to(const Gpu& g, const std::string& busid) {
    for (const NvLink& l : g.nvlinks)
      if (l.target == busid) return true;
    return false;
  }
};

// ---- JSON -----------------------------------------------------------------------------

std::string jstr(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string jnum(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string jpath(const std::string& a, const std::string& b, const PathInfo& p) {
  return "{\"a\": " + jstr(a) + ", \"b\": " + jstr(b) + ", \"class\": " + jstr(to_string(p.cls)) +
         ", \"bw_GBps\": " + jnum(p.bw_GBps) + ", \"latency_us\": " + jnum(p.latency_us) +
         ", \"nvlinks\": " + std::to_string(p.nvlinks) + "}";
}

// ---- DOT ---------------------------------------------------------------------------------

// A DOT quoted string: only the quote and backslash need escaping.
std::string dot_id(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

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

std::string render_matrix(const JobTopology& job) {
  std::ostringstream out;
  for (int hidx = 0; hidx < job.nhosts(); ++hidx) {
    const HostTopology& h = job.host(hidx);
    if (hidx) out << "\n";
    out << "Host " << hidx << (h.hostname.empty() ? "" : " " + h.hostname) << "\n";
    std::vector<std::string> names;
    std::vector<Endpoint> eps;
    for (size_t g = 0; g < h.gpus.size(); ++g) {
      names.push_back("GPU" + std::to_string(g));
      eps.push_back({Endpoint::Kind::kGpu, static_cast<int>(g)});
    }
    for (size_t n = 0; n < h.nics.size(); ++n) {
      names.push_back("NIC" + std::to_string(n));
      eps.push_back({Endpoint::Kind::kNic, static_cast<int>(n)});
    }
    if (eps.empty()) {
      out << "  (no GPU or NIC)\n";
      continue;
    }
    size_t w = 6;
    for (const auto& n : names) w = std::max(w, n.size() + 2);
    out << pad("", w);
    for (const auto& n : names) out << pad(n, w);
    out << pad("CPU Affinity", 24) << "NUMA Affinity\n";
    for (size_t i = 0; i < eps.size(); ++i) {
      out << pad(names[i], w);
      for (size_t j = 0; j < eps.size(); ++j)
        out << pad(i == j ? "X" : matrix_cell(host_path(h, eps[i], eps[j])), w);
      int cpu = eps[i].kind == Endpoint::Kind::kGpu ? h.cpu_of_gpu(eps[i].index)
                                                    : h.cpu_of_nic(eps[i].index);
      const Cpu& c = h.cpus[static_cast<size_t>(cpu)];
      std::string aff = c.affinity.empty() ? "N/A" : cpu_list(c);
      out << pad(aff, 24) << c.numa_id << "\n";
    }
    if (!h.nics.empty()) {
      out << "\nNIC Legend:\n";
      for (size_t n = 0; n < h.nics.size(); ++n)
        out << "  NIC" << n << ": " << h.nics[n].name
            << (h.nics[n].port > 0 ? ":" + std::to_string(h.nics[n].port) : "") << "\n";
    }
  }
  out << "\nLegend:\n"
         "  X    = Self\n"
         "  SYS  = Through PCIe and the interconnect between NUMA nodes or sockets (UPI, xGMI)\n"
         "  PHB  = Through PCIe and a CPU's PCIe host bridge\n"
         "  PXB  = Through several PCIe switches, not through the host bridge\n"
         "  PIX  = Through at most one PCIe switch\n"
         "  NVB  = Through NVLink via another GPU\n"
         "  NV#  = Through # bonded NVLinks (direct or via NVSwitch)\n";
  if (job.nranks() > 0 && job.nranks() <= 64) {
    out << "\nRanks (path class between ranks):\n" << pad("", 6);
    for (int r = 0; r < job.nranks(); ++r) out << pad("r" + std::to_string(r), 6);
    out << "host  GPU   NIC\n";
    for (int a = 0; a < job.nranks(); ++a) {
      out << pad("r" + std::to_string(a), 6);
      for (int b = 0; b < job.nranks(); ++b)
        out << pad(a == b ? "X" : matrix_cell(job.path(a, b)), 6);
      const RankPlacement& p = job.placement(a);
      int nic = job.nic(a);
      out << pad(std::to_string(p.host), 6) << pad(p.gpu >= 0 ? std::to_string(p.gpu) : "-", 6)
          << (nic >= 0 ? job.host(p.host).nics[static_cast<size_t>(nic)].name : "-") << "\n";
    }
  }
  return out.str();
}

std::string render_json(const JobTopology& job) {
  Graph graph(job);
  std::ostringstream out;
  out << "{\n  \"schema\": \"tandem-topo/1\",\n  \"hosts\": [";
  for (int hidx = 0; hidx < job.nhosts(); ++hidx) {
    const HostTopology& h = job.host(hidx);
    out << (hidx ? "," : "") << "\n    {\"index\": " << hidx
        << ", \"hostname\": " << jstr(h.hostname) << ", \"cpus\": " << h.cpus.size()
        << ", \"gpus\": " << h.gpus.size() << ", \"nics\": " << h.nics.size() << ", \"ranks\": ["
        << join(job.ranks_on_host(hidx), ", ") << "]}";
  }
  out << "\n  ],\n  \"devices\": [";
  bool first = true;
  for (const Device& d : graph.devices) {
    const HostTopology& h = job.host(d.host);
    out << (first ? "" : ",") << "\n    {\"id\": " << jstr(d.id) << ", \"host\": " << d.host
        << ", \"type\": " << jstr(d.type);
    first = false;
    if (d.index >= 0) out << ", \"index\": " << d.index;
    if (d.pci >= 0) {
      const PciDevice& p = h.pci[static_cast<size_t>(d.pci)];
      out << ", \"busid\": " << jstr(p.busid) << ", \"class\": " << jstr(hex_class(p.class_code))
          << ", \"vendor\": " << jstr("0x" + hex4(p.vendor))
          << ", \"device\": " << jstr("0x" + hex4(p.device))
          << ", \"link_speed\": " << jstr(p.link_speed) << ", \"link_width\": " << p.link_width;
    }
    if (d.type == "cpu") {
      const Cpu& c = h.cpus[static_cast<size_t>(d.index)];
      out << ", \"numa\": " << c.numa_id << ", \"package\": " << c.package
          << ", \"arch\": " << jstr(c.arch) << ", \"vendor\": " << jstr(c.vendor)
          << ", \"family\": " << c.family_id << ", \"model\": " << c.model_id
          << ", \"cpus\": " << jstr(cpu_list(c));
    } else if (d.type == "gpu") {
      const Gpu& g = h.gpus[static_cast<size_t>(d.index)];
      int nic = nearest_nic(h, d.index);
      out << ", \"dev\": " << g.dev << ", \"sm\": " << g.sm
          << ", \"numa\": " << h.cpus[static_cast<size_t>(h.cpu_of_gpu(d.index))].numa_id
          << ", \"gdr\": " << (g.gdr ? "true" : "false") << ", \"nearest_nic\": "
          << (nic >= 0 ? jstr(host_prefix(d.host) + "nic" + std::to_string(nic)) : "null");
    } else if (d.type == "nic") {
      const Nic& n = h.nics[static_cast<size_t>(d.index)];
      out << ", \"name\": " << jstr(n.name) << ", \"port\": " << n.port
          << ", \"speed_Gbps\": " << jnum(n.speed_mbps / 1000.0)
          << ", \"link_layer\": " << jstr(n.link_layer)
          << ", \"numa\": " << h.cpus[static_cast<size_t>(h.cpu_of_nic(d.index))].numa_id
          << ", \"gdr\": " << (n.gdr ? "true" : "false");
    }
    out << "}";
  }
  if (graph.network) out << ",\n    {\"id\": \"network\", \"host\": -1, \"type\": \"network\"}";
  out << "\n  ],\n  \"links\": [";
  for (size_t i = 0; i < graph.links.size(); ++i) {
    const Link& l = graph.links[i];
    out << (i ? "," : "") << "\n    {\"a\": " << jstr(l.a) << ", \"b\": " << jstr(l.b)
        << ", \"type\": " << jstr(l.type);
    if (l.count) out << ", \"count\": " << l.count;
    out << ", \"bw_GBps\": " << jnum(l.bw) << "}";
  }
  out << "\n  ],\n  \"paths\": [";
  first = true;
  auto emit = [&](const std::string& s) {
    out << (first ? "" : ",") << "\n    " << s;
    first = false;
  };
  const bool cross = job.nhosts() <= kJsonMaxHostsForCrossPaths;
  for (int ha = 0; ha < job.nhosts(); ++ha) {
    const HostTopology& h = job.host(ha);
    const std::string pa = host_prefix(ha);
    for (size_t a = 0; a < h.gpus.size(); ++a) {
      std::string ida = pa + "gpu" + std::to_string(a);
      for (size_t b = a + 1; b < h.gpus.size(); ++b)
        emit(jpath(ida, pa + "gpu" + std::to_string(b),
                   host_path(h, {Endpoint::Kind::kGpu, static_cast<int>(a)},
                             {Endpoint::Kind::kGpu, static_cast<int>(b)})));
      for (size_t n = 0; n < h.nics.size(); ++n)
        emit(jpath(ida, pa + "nic" + std::to_string(n),
                   host_path(h, {Endpoint::Kind::kGpu, static_cast<int>(a)},
                             {Endpoint::Kind::kNic, static_cast<int>(n)})));
      if (!cross) continue;
      for (int hb = ha + 1; hb < job.nhosts(); ++hb) {
        const HostTopology& o = job.host(hb);
        for (size_t b = 0; b < o.gpus.size(); ++b)
          emit(jpath(ida, host_prefix(hb) + "gpu" + std::to_string(b),
                     detail::net_path(h, {Endpoint::Kind::kGpu, static_cast<int>(a)},
                                      nearest_nic(h, static_cast<int>(a)), o,
                                      {Endpoint::Kind::kGpu, static_cast<int>(b)},
                                      nearest_nic(o, static_cast<int>(b)))));
      }
    }
  }
  out << "\n  ],\n  \"cross_host_paths\": " << (cross ? "true" : "false");
  out << ",\n  \"ranks\": [";
  for (int r = 0; r < job.nranks(); ++r) {
    const RankPlacement& p = job.placement(r);
    int nic = job.nic(r);
    out << (r ? "," : "") << "\n    {\"rank\": " << r << ", \"host\": " << p.host << ", \"gpu\": "
        << (p.gpu >= 0 ? jstr(host_prefix(p.host) + "gpu" + std::to_string(p.gpu)) : "null")
        << ", \"numa\": " << p.numa << ", \"nic\": "
        << (nic >= 0 ? jstr(host_prefix(p.host) + "nic" + std::to_string(nic)) : "null") << "}";
  }
  out << "\n  ],\n  \"ring\": [";
  if (job.nranks() > 0) out << join(ring_order(job), ", ");
  out << "]\n}\n";
  return out.str();
}

std::string render_dot(const JobTopology& job) {
  Graph graph(job);
  std::ostringstream out;
  out << "graph tandem_topology {\n"
         "  graph [rankdir=TB, fontname=\"Helvetica\", compound=true];\n"
         "  node [fontname=\"Helvetica\", fontsize=10, shape=box];\n"
         "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  std::map<int, std::vector<const Device*>> by_host;
  for (const Device& d : graph.devices) by_host[d.host].push_back(&d);
  for (const auto& [hidx, devs] : by_host) {
    const HostTopology& h = job.host(hidx);
    out << "  subgraph cluster_h" << hidx << " {\n    label="
        << dot_id(h.hostname.empty() ? "host " + std::to_string(hidx) : h.hostname)
        << ";\n    style=rounded;\n";
    for (const Device* d : devs) {
      std::string label;
      std::string attrs;
      if (d->type == "cpu") {
        const Cpu& c = h.cpus[static_cast<size_t>(d->index)];
        label = "CPU " + std::to_string(d->index) + "\\nNUMA " + std::to_string(c.numa_id);
        if (!c.affinity.empty()) label += "\\nCPUs " + cpu_list(c);
        attrs = ", shape=box3d, style=filled, fillcolor=\"#dde6f0\"";
      } else if (d->type == "gpu") {
        const Gpu& g = h.gpus[static_cast<size_t>(d->index)];
        label = "GPU " + std::to_string(d->index) + "\\n" + h.busid_of_gpu(d->index) + "\\nsm " +
                std::to_string(g.sm);
        attrs = ", style=filled, fillcolor=\"#b5e08f\"";
      } else if (d->type == "nic") {
        const Nic& n = h.nics[static_cast<size_t>(d->index)];
        label = "NIC " + n.name + (n.port > 0 ? ":" + std::to_string(n.port) : "") + "\\n" +
                fixed(n.speed_mbps / 1000.0, 0) + " Gb/s";
        attrs = ", shape=ellipse, style=filled, fillcolor=\"#f6d7a7\"";
      } else if (d->type == "nvswitch") {
        label = "NVSwitch";
        attrs = ", shape=hexagon, style=filled, fillcolor=\"#8fd18f\"";
      } else {
        const PciDevice& p = h.pci[static_cast<size_t>(d->pci)];
        bool nvswitch = (p.class_code >> 8) == (kPciClassNvSwitch >> 8);
        label = (d->type == "pci_switch" ? std::string("PCIe switch\\n")
                 : nvswitch              ? std::string("NVSwitch (PCIe)\\n")
                                         : "PCI " + hex_class(p.class_code) + "\\n") +
                p.busid;
        attrs = d->type == "pci_switch" ? ", shape=diamond" : "";
      }
      out << "    " << dot_id(d->id) << " [label=\"" << label << "\"" << attrs << "];\n";
    }
    out << "  }\n";
  }
  if (graph.network) out << "  \"network\" [label=\"Network\", shape=doublecircle];\n";
  for (const Link& l : graph.links) {
    std::string label;
    std::string attrs;
    if (l.type == "nvlink") {
      label = "NV" + std::to_string(l.count) + " " + fixed(l.bw, 0) + " GB/s";
      attrs = ", color=\"#4b9a2a\", penwidth=2.5";
      // GPU-to-GPU links would tangle the PCIe tree that drives the layout.
      if (l.b != l.a.substr(0, l.a.find('/') + 1) + "nvswitch") attrs += ", constraint=false";
    } else if (l.type == "smp") {
      label = "SYS " + fixed(l.bw, 0) + " GB/s";
      attrs = ", style=dashed";
    } else if (l.type == "net") {
      label = fixed(l.bw, 1) + " GB/s";
      attrs = ", color=\"#c07a1a\"";
    } else {
      label = fixed(l.bw, 1) + " GB/s";
    }
    out << "  " << dot_id(l.a) << " -- " << dot_id(l.b) << " [label=\"" << label << "\"" << attrs
        << "];\n";
  }
  out << "}\n";
  return out.str();
}

}  // namespace tdm::topo
