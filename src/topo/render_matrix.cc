// The nvidia-smi-style matrix: path classes between the GPUs and NICs of each host
// with their CPU and NUMA affinity, a legend, and path classes between ranks.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "topo/render.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo {

namespace {

using render_detail::cpu_list;

std::string matrix_cell(const PathInfo& p) {
  if (p.cls == PathClass::kNVL) return "NV" + std::to_string(p.nvlinks);
  return to_string(p.cls);
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

}  // namespace

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

}  // namespace tdm::topo
