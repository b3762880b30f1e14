// Path classes and bandwidth/latency estimates between devices of one host,
// NIC choice, and the P2P level knob. The numbers are documented, with their
// reasons, in docs/topology.md ("Bandwidth model").
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/env.h"
#include "util/error.h"

namespace tdm::topo {

namespace {

constexpr const char* kClassNames[] = {"LOC", "NVL", "NVB", "PIX", "PXB",
                                       "PHB", "SYS", "NET", "DIS"};

}  // namespace

const char* to_string(PathClass cls) {
  auto i = static_cast<size_t>(cls);
  return i < std::size(kClassNames) ? kClassNames[i] : "?";
}

std::optional<PathClass> path_class_from_string(std::string_view name) {
  for (size_t i = 0; i < std::size(kClassNames); ++i)
    if (name == kClassNames[i]) return static_cast<PathClass>(i);
  return std::nullopt;
}

const char* to_string(TransportKind kind) {
  switch (kind) {
    case TransportKind::kP2P:
      return "P2P";
    case TransportKind::kShm:
      return "SHM";
    case TransportKind::kNet:
      return "NET";
  }
  return "?";
}

namespace detail {

double pcie_bw(std::string_view link_speed, int link_width) {
  // "16.0 GT/s PCIe" / "16 GT/s": per-lane transfer rate. Unknown: assume Gen4, the
  // most common link on GPU servers today, rather than 0 which would mean "no path".
  double gts = 16.0;
  {
    size_t i = 0;
    while (i < link_speed.size() && link_speed[i] == ' ') ++i;
    double v = 0;
    auto [end, ec] =
        std::from_chars(link_speed.data() + i, link_speed.data() + link_speed.size(), v);
    if (ec == std::errc() && v > 0 && end != link_speed.data() + i) gts = v;
  }
  int width = link_width > 0 ? link_width : 16;
  // Gen1/2 use 8b/10b, Gen3+ 128b/130b; 80% of the rest survives TLP/DLLP overhead.
  double encoding = gts <= 5.0 ? 0.8 : 128.0 / 130.0;
  return gts * width * encoding / 8.0 * 0.8;
}

double nvlink_bw_per_link(const Gpu& gpu) {
  if (gpu.nvlink_bw > 0) return gpu.nvlink_bw;
  // Nominal GB/s per link per direction by NVLink generation.
  if (gpu.sm >= 100) return 50.0;                    // NVLink 5 (Blackwell)
  if (gpu.sm == 86 || gpu.sm == 87) return 14.0625;  // NVLink 3 bridges on GA10x
  if (gpu.sm >= 70) return 25.0;                     // NVLink 2, 3, 4 (V100, A100, H100/H200)
  return 20.0;                                       // NVLink 1 (P100)
}

double cpu_interconnect_bw(const Cpu& a, const Cpu& b) {
  // Effective GB/s a device-to-device copy reaches across the SMP interconnect,
  // well below the links' nominal rate (coherence traffic, P2P posted writes split
  // into small packets), in line with what NCCL assumes for these CPUs.
  if (a.package >= 0 && a.package == b.package) return 32.0;  // NUMA nodes inside one socket
  const Cpu& c = a;
  if (c.vendor == "GenuineIntel") return c.model_id >= 0x55 ? 16.0 : 8.0;  // UPI vs QPI
  if (c.vendor == "AuthenticAMD") return 16.0;                             // xGMI
  if (c.arch == "ppc64") return 32.0;                                      // X-Bus
  if (c.arch == "arm64") return 16.0;
  return 10.0;
}

double nic_bw(const Nic& nic) {
  return nic.speed_mbps > 0 ? nic.speed_mbps / 8000.0 : kUnknownNetBw;
}

double latency_us(PathClass cls, bool host_memory) {
  if (host_memory) {
    // Flag write + poll through shared memory by CPU processes.
    switch (cls) {
      case PathClass::kLOC:
      case PathClass::kPHB:
        return 0.3;
      case PathClass::kSYS:
        return 0.6;
      default:
        break;
    }
  }
  switch (cls) {
    case PathClass::kLOC:
      return 0.1;
    case PathClass::kNVL:
      return 0.7;
    case PathClass::kNVB:
      return 1.0;
    case PathClass::kPIX:
      return 1.2;
    case PathClass::kPXB:
      return 1.4;
    case PathClass::kPHB:
      return 1.8;
    case PathClass::kSYS:
      return 2.6;
    case PathClass::kNET:
      return 3.0;
    case PathClass::kDIS:
      return 0;
  }
  return 0;
}

// Link sums saturate here: a file may list any number of <nvlink> elements,
// and direct + switch links must still fit an int.
constexpr int64_t kMaxLinkSum = 1 << 20;

constexpr int saturated_links(int64_t n) {
  return static_cast<int>(std::clamp<int64_t>(n, 0, kMaxLinkSum));
}

int switch_nvlinks(const Gpu& g) {
  int64_t n = 0;
  for (const NvLink& l : g.nvlinks)
    if (l.target_class == kPciClassNvSwitch) n = std::min<int64_t>(n + l.count, kMaxLinkSum);
  return saturated_links(n);
}

}  // namespace detail

namespace {

using detail::pcie_bw;

// Where an endpoint sits: the CPU whose root complex holds it and the PCI chain
// from that root down to it (empty for a CPU or a NIC off PCI).
struct Loc {
  int cpu = 0;
  std::vector<int> chain;
};

Loc locate(const HostTopology& h, Endpoint e) {
  Loc loc;
  switch (e.kind) {
    case Endpoint::Kind::kGpu: {
      const Gpu& g = h.gpus.at(static_cast<size_t>(e.index));
      loc.chain = detail::pci_chain(h, g.pci);
      loc.cpu = h.pci[static_cast<size_t>(g.pci)].cpu;
      break;
    }
    case Endpoint::Kind::kNic: {
      const Nic& n = h.nics.at(static_cast<size_t>(e.index));
      if (n.pci >= 0) loc.chain = detail::pci_chain(h, n.pci);
      loc.cpu = h.cpu_of_nic(e.index);
      break;
    }
    case Endpoint::Kind::kCpu:
      if (e.index < 0 || e.index >= static_cast<int>(h.cpus.size()))
        throw_error(tdmInternalError, "topology: CPU index ", e.index, " out of range");
      loc.cpu = e.index;
      break;
  }
  return loc;
}

double uplinks_bw(const HostTopology& h, const std::vector<int>& chain, size_t from) {
  double bw = std::numeric_limits<double>::infinity();
  for (size_t i = from; i < chain.size(); ++i) {
    const PciDevice& d = h.pci[static_cast<size_t>(chain[i])];
    bw = std::min(bw, pcie_bw(d.link_speed, d.link_width));
  }
  return bw;
}

// PCIe/CPU path between two located endpoints, NCCL's classification: PIX when one
// switch joins them, PXB for several switches, PHB through the root complex of one
// CPU, SYS across CPUs.
PathInfo pci_path(const HostTopology& h, const Loc& a, const Loc& b, bool host_memory) {
  PathInfo p;
  if (a.cpu != b.cpu) {
    p.cls = PathClass::kSYS;
    p.bw_GBps = std::min({uplinks_bw(h, a.chain, 0), uplinks_bw(h, b.chain, 0),
                          detail::cpu_interconnect_bw(h.cpus[static_cast<size_t>(a.cpu)],
                                                      h.cpus[static_cast<size_t>(b.cpu)])});
  } else if (a.chain.empty() || b.chain.empty()) {
    p.cls = PathClass::kPHB;
    p.bw_GBps = std::min(uplinks_bw(h, a.chain, 0), uplinks_bw(h, b.chain, 0));
  } else {
    // Switches above each device: the chain without the device itself.
    size_t na = a.chain.size() - 1, nb = b.chain.size() - 1, common = 0;
    while (common < na && common < nb && a.chain[common] == b.chain[common]) ++common;
    if (common == 0) {
      p.cls = PathClass::kPHB;
      p.bw_GBps = std::min(uplinks_bw(h, a.chain, 0), uplinks_bw(h, b.chain, 0));
    } else {
      size_t switches = (na - common) + (nb - common) + 1;
      p.cls = switches == 1 ? PathClass::kPIX : PathClass::kPXB;
      p.bw_GBps = std::min(uplinks_bw(h, a.chain, common), uplinks_bw(h, b.chain, common));
    }
  }
  if (host_memory) p.bw_GBps = std::min(p.bw_GBps, detail::kShmBw);
  if (std::isinf(p.bw_GBps)) p.bw_GBps = detail::kShmBw;  // two CPUs with nothing in between
  p.latency_us = detail::latency_us(p.cls, host_memory);
  return p;
}

int direct_nvlinks(const HostTopology& h, int a, int b) {
  const std::string& target = h.busid_of_gpu(b);
  int64_t n = 0;
  for (const NvLink& l : h.gpus[static_cast<size_t>(a)].nvlinks)
    if (l.target == target) n = std::min<int64_t>(n + l.count, detail::kMaxLinkSum);
  return detail::saturated_links(n);
}

int nvlink_pair(const HostTopology& h, int a, int b) {
  // Either side may list the link; a file could carry only one direction.
  return std::max(direct_nvlinks(h, a, b), direct_nvlinks(h, b, a));
}

PathInfo gpu_gpu(const HostTopology& h, int a, int b) {
  PathInfo p;
  const Gpu& ga = h.gpus[static_cast<size_t>(a)];
  const Gpu& gb = h.gpus[static_cast<size_t>(b)];
  if (a == b) {
    p.cls = PathClass::kLOC;
    p.bw_GBps = detail::kLocalGpuBw;
    p.latency_us = detail::latency_us(p.cls, false);
    return p;
  }
  double per_link = std::min(detail::nvlink_bw_per_link(ga), detail::nvlink_bw_per_link(gb));
  int direct = nvlink_pair(h, a, b);
  int sa = detail::switch_nvlinks(ga), sb = detail::switch_nvlinks(gb);
  // NVSwitch and direct links add up: both are NVLink bandwidth to the peer.
  int nv = direct + std::min(sa, sb);
  if (nv > 0) {
    p.cls = PathClass::kNVL;
    p.nvlinks = nv;
    p.bw_GBps = nv * per_link;
    p.latency_us = detail::latency_us(p.cls, false);
    return p;
  }
  PathInfo pci = pci_path(h, locate(h, {Endpoint::Kind::kGpu, a}),
                          locate(h, {Endpoint::Kind::kGpu, b}), false);
  // NVLink through one intermediate GPU, when it beats PCIe.
  PathInfo best_nvb;
  for (int c = 0; c < static_cast<int>(h.gpus.size()); ++c) {
    if (c == a || c == b) continue;
    int l1 = nvlink_pair(h, a, c), l2 = nvlink_pair(h, c, b);
    if (l1 == 0 || l2 == 0) continue;
    double hop_bw = std::min(l1, l2) *
                    std::min(per_link, detail::nvlink_bw_per_link(h.gpus[static_cast<size_t>(c)]));
    if (hop_bw > best_nvb.bw_GBps) {
      best_nvb.cls = PathClass::kNVB;
      best_nvb.bw_GBps = hop_bw;
      best_nvb.nvlinks = std::min(l1, l2);
      best_nvb.latency_us = detail::latency_us(PathClass::kNVB, false);
    }
  }
  if (best_nvb.cls == PathClass::kNVB && best_nvb.bw_GBps >= pci.bw_GBps) return best_nvb;
  return pci;
}

}  // namespace

PathInfo host_path(const HostTopology& h, Endpoint a, Endpoint b) {
  using K = Endpoint::Kind;
  if (a.kind == K::kGpu && b.kind == K::kGpu) {
    if (a.index < 0 || b.index < 0 || a.index >= static_cast<int>(h.gpus.size()) ||
        b.index >= static_cast<int>(h.gpus.size()))
      throw_error(tdmInternalError, "topology: GPU index out of range");
    return gpu_gpu(h, a.index, b.index);
  }
  if (b.kind == K::kGpu || (a.kind == K::kCpu && b.kind == K::kNic)) std::swap(a, b);
  Loc la = locate(h, a), lb = locate(h, b);
  if (a.kind == K::kCpu && b.kind == K::kCpu) {
    // Two processes exchanging through host memory.
    PathInfo p = pci_path(h, la, lb, /*host_memory=*/true);
    if (la.cpu == lb.cpu) p.bw_GBps = detail::kShmBw;
    return p;
  }
  if (a.kind == K::kNic && b.kind == K::kNic && a.index == b.index) {
    PathInfo p;
    p.cls = PathClass::kLOC;
    p.bw_GBps = detail::nic_bw(h.nics[static_cast<size_t>(a.index)]);
    p.latency_us = detail::latency_us(p.cls, false);
    return p;
  }
  PathInfo p = pci_path(h, la, lb, false);
  // A NIC's own line rate caps the path to it.
  if (a.kind == K::kNic)
    p.bw_GBps = std::min(p.bw_GBps, detail::nic_bw(h.nics[static_cast<size_t>(a.index)]));
  if (b.kind == K::kNic)
    p.bw_GBps = std::min(p.bw_GBps, detail::nic_bw(h.nics[static_cast<size_t>(b.index)]));
  return p;
}

namespace {

// NICs tied for nearest to an endpoint: lowest class, then highest bandwidth.
std::vector<int> best_nics(const HostTopology& h, Endpoint from) {
  std::vector<int> best;
  PathInfo best_path;
  for (int n = 0; n < static_cast<int>(h.nics.size()); ++n) {
    PathInfo p = host_path(h, from, {Endpoint::Kind::kNic, n});
    bool better = best.empty() || p.cls < best_path.cls ||
                  (p.cls == best_path.cls && p.bw_GBps > best_path.bw_GBps * 1.0001);
    bool tie = !best.empty() && p.cls == best_path.cls &&
               std::abs(p.bw_GBps - best_path.bw_GBps) <= best_path.bw_GBps * 1e-4;
    if (better) {
      best = {n};
      best_path = p;
    } else if (tie) {
      best.push_back(n);
    }
  }
  return best;
}

}  // namespace

int nearest_nic(const HostTopology& h, int gpu) {
  if (h.nics.empty()) return -1;
  if (gpu < 0 || gpu >= static_cast<int>(h.gpus.size()))
    throw_error(tdmInvalidArgument, "nearest_nic: GPU index ", gpu, " out of range");
  std::vector<int> mine = best_nics(h, {Endpoint::Kind::kGpu, gpu});
  // Spread GPUs that share the same set of nearest NICs over that set, in GPU order,
  // so four GPUs behind one switch with two NICs use both.
  int before = 0;
  for (int g = 0; g < gpu; ++g)
    if (best_nics(h, {Endpoint::Kind::kGpu, g}) == mine) ++before;
  return mine[static_cast<size_t>(before) % mine.size()];
}

int nearest_nic_to_cpu(const HostTopology& h, int cpu, int spread) {
  if (h.nics.empty()) return -1;
  std::vector<int> best = best_nics(h, {Endpoint::Kind::kCpu, cpu});
  return best[static_cast<size_t>(std::max(spread, 0)) % best.size()];
}

PathClass parse_p2p_level(std::string_view text) {
  if (auto cls = path_class_from_string(text); cls && *cls <= PathClass::kSYS) return *cls;
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size() && v >= 0) {
    // NCCL's legacy integers predate NVLink levels.
    constexpr PathClass kLegacy[] = {PathClass::kLOC, PathClass::kPIX, PathClass::kPXB,
                                     PathClass::kPHB, PathClass::kSYS};
    return v >= 4 ? PathClass::kSYS : kLegacy[v];
  }
  throw_error(tdmInvalidArgument, "TANDEM_P2P_LEVEL='", text,
              "' is not a level: use LOC, NVL, NVB, PIX, PXB, PHB, SYS or 0-4");
}

PathClass p2p_level_from_env() {
  auto v = env::get("TANDEM_P2P_LEVEL");
  return v ? parse_p2p_level(*v) : PathClass::kPXB;
}

}  // namespace tdm::topo
