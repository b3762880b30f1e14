// HostTopology lookups, normalization and cpumask helpers.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <numeric>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/error.h"

namespace tdm::topo {

int HostTopology::gpu_by_busid(std::string_view busid) const {
  std::string want = detail::canonical_busid(busid);
  for (size_t i = 0; i < gpus.size(); ++i)
    if (pci[gpus[i].pci].busid == want) return static_cast<int>(i);
  return -1;
}

int HostTopology::gpu_by_dev(int dev) const {
  for (size_t i = 0; i < gpus.size(); ++i)
    if (gpus[i].dev == dev && dev >= 0) return static_cast<int>(i);
  return -1;
}

int HostTopology::cpu_by_numa(int numa_id) const {
  for (size_t i = 0; i < cpus.size(); ++i)
    if (cpus[i].numa_id == numa_id) return static_cast<int>(i);
  return -1;
}

int HostTopology::cpu_of_gpu(int gpu) const { return pci.at(gpus.at(gpu).pci).cpu; }

int HostTopology::cpu_of_nic(int nic) const {
  const Nic& n = nics.at(nic);
  return n.pci >= 0 ? pci.at(n.pci).cpu : n.cpu;
}

const std::string& HostTopology::busid_of_gpu(int gpu) const {
  return pci.at(gpus.at(gpu).pci).busid;
}

namespace detail {

std::string canonical_busid(std::string_view busid) {
  std::string out;
  for (char c : busid) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // NVML pads the domain to 8 digits; sysfs and NCCL use 4.
  size_t colon = out.find(':');
  if (colon == 8 && out.starts_with("0000")) out.erase(0, 4);
  return out;
}

std::vector<int> affinity_to_cpus(std::string_view mask) {
  // Words are most significant first; walk them from the end.
  std::vector<std::string_view> words;
  size_t start = 0;
  while (start <= mask.size()) {
    size_t comma = mask.find(',', start);
    if (comma == std::string_view::npos) comma = mask.size();
    words.push_back(mask.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<int> cpus;
  int base = 0;
  for (auto it = words.rbegin(); it != words.rend(); ++it, base += 32) {
    std::string_view w = *it;
    if (w.starts_with("0x") || w.starts_with("0X")) w.remove_prefix(2);
    uint64_t bits = 0;
    for (char c : w) {
      int v = std::isdigit(static_cast<unsigned char>(c))
                  ? c - '0'
                  : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
      if (v < 0 || v > 15) return {};
      bits = bits * 16 + static_cast<uint64_t>(v);
    }
    for (int b = 0; b < 32; ++b)
      if (bits & (uint64_t{1} << b)) cpus.push_back(base + b);
  }
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

std::string cpus_to_affinity(const std::vector<int>& cpus, int total_cpus) {
  int max_cpu = cpus.empty() ? 0 : *std::max_element(cpus.begin(), cpus.end());
  max_cpu = std::max(max_cpu, total_cpus - 1);
  std::vector<uint32_t> words(static_cast<size_t>(max_cpu / 32 + 1), 0);
  for (int c : cpus)
    if (c >= 0) words[static_cast<size_t>(c / 32)] |= uint32_t{1} << (c % 32);
  std::string out;
  for (auto it = words.rbegin(); it != words.rend(); ++it) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%08x", *it);
    if (!out.empty()) out += ',';
    out += buf;
  }
  return out;
}

std::string cpus_to_list(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> pci_chain(const HostTopology& host, int pci) {
  std::vector<int> chain;
  for (int p = pci; p >= 0; p = host.pci[static_cast<size_t>(p)].parent) chain.push_back(p);
  std::reverse(chain.begin(), chain.end());
  return chain;
}

void normalize(HostTopology& host, std::string_view source) {
  if (host.cpus.empty()) {
    Cpu cpu;
    cpu.numa_id = 0;
    host.cpus.push_back(cpu);
  }
  const int ncpu = static_cast<int>(host.cpus.size());
  const int npci = static_cast<int>(host.pci.size());
  for (int i = 0; i < npci; ++i) {
    PciDevice& d = host.pci[static_cast<size_t>(i)];
    d.busid = canonical_busid(d.busid);
    if (d.parent < -1 || d.parent >= npci || d.cpu < 0 || d.cpu >= ncpu)
      throw_error(tdmInvalidArgument, source, ": PCI device ", d.busid, " has a bad parent or CPU");
  }
  for (int i = 0; i < npci; ++i) {
    // Walk to the root; more steps than devices means a cycle.
    int p = i, steps = 0;
    while (host.pci[static_cast<size_t>(p)].parent >= 0) {
      p = host.pci[static_cast<size_t>(p)].parent;
      if (++steps > npci)
        throw_error(tdmInvalidArgument, source, ": PCI tree has a cycle at ",
                    host.pci[static_cast<size_t>(i)].busid);
    }
    host.pci[static_cast<size_t>(i)].cpu = host.pci[static_cast<size_t>(p)].cpu;
  }
  for (const Gpu& g : host.gpus) {
    if (g.pci < 0 || g.pci >= npci)
      throw_error(tdmInvalidArgument, source, ": GPU dev ", g.dev, " has no PCI device");
    for (int q : g.no_p2p)
      if (q < 0 || q >= static_cast<int>(host.gpus.size()))
        throw_error(tdmInvalidArgument, source, ": GPU dev ", g.dev, " has a bad P2P entry");
  }
  for (Nic& n : host.nics) {
    if (n.pci < -1 || n.pci >= npci || n.cpu < 0 || n.cpu >= ncpu)
      throw_error(tdmInvalidArgument, source, ": NIC ", n.name, " has a bad PCI device or CPU");
    if (n.pci >= 0) n.cpu = host.pci[static_cast<size_t>(n.pci)].cpu;
  }

  // GPU order = CUDA ordinal, so gpu index == dev on a fully visible host.
  std::vector<int> order(host.gpus.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const Gpu& ga = host.gpus[static_cast<size_t>(a)];
    const Gpu& gb = host.gpus[static_cast<size_t>(b)];
    if ((ga.dev < 0) != (gb.dev < 0)) return ga.dev >= 0;
    if (ga.dev != gb.dev) return ga.dev < gb.dev;
    return host.pci[static_cast<size_t>(ga.pci)].busid <
           host.pci[static_cast<size_t>(gb.pci)].busid;
  });
  std::vector<int> new_index(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    new_index[static_cast<size_t>(order[i])] = static_cast<int>(i);
  std::vector<Gpu> sorted;
  sorted.reserve(order.size());
  for (int old : order) {
    Gpu g = std::move(host.gpus[static_cast<size_t>(old)]);
    for (int& q : g.no_p2p) q = new_index[static_cast<size_t>(q)];
    std::sort(g.no_p2p.begin(), g.no_p2p.end());
    sorted.push_back(std::move(g));
  }
  host.gpus = std::move(sorted);
  std::stable_sort(host.nics.begin(), host.nics.end(),
                   [](const Nic& a, const Nic& b) { return a.dev < b.dev; });
}

}  // namespace detail
}  // namespace tdm::topo
