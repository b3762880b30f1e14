// This host's CPUs from sysfs: NUMA nodes with their CPUs and packages; and
// what every CPU is (vendor, family, model from /proc/cpuinfo, arch from uname).
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "topo/discover.h"
#include "topo/internal.h"
#include "topo/probe.h"
#include "topo/topology.h"

namespace fs = std::filesystem;

namespace tdm::topo::detail {

namespace {

std::string machine_arch() {
  struct utsname u {};
  if (uname(&u) != 0) return "";
  std::string m = u.machine;
  // NCCL's names.
  if (m == "aarch64") return "arm64";
  if (m.starts_with("ppc64")) return "ppc64";
  return m;
}

}  // namespace

void fill_cpu_identity(std::vector<Cpu>& cpus) {
  std::string vendor;
  int family = 0, model = 0;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    auto value = [&] {
      size_t v = line.find_first_not_of(" \t", line.find(':') + 1);
      return line.find(':') == std::string::npos || v == std::string::npos ? std::string()
                                                                           : line.substr(v);
    };
    if (line.starts_with("vendor_id") && vendor.empty())
      vendor = value();
    else if (line.starts_with("cpu family") && !family)
      family = std::atoi(value().c_str());
    else if (line.starts_with("model") && !line.starts_with("model name") && !model)
      model = std::atoi(value().c_str());
    if (line.empty() && !vendor.empty()) break;  // first processor is enough
  }
  std::string arch = machine_arch();
  for (Cpu& c : cpus) {
    if (c.arch.empty()) c.arch = arch;
    if (c.vendor.empty()) c.vendor = vendor;
    if (!c.family_id) c.family_id = family;
    if (!c.model_id) c.model_id = model;
  }
}

std::vector<Cpu> cpus_from_sysfs() {
  std::vector<Cpu> out;
  std::vector<int> all =
      detail::parse_cpu_list(read_sysfs("/sys/devices/system/cpu/possible").value_or(""));
  int total = all.empty() ? 0 : all.back() + 1;
  std::error_code ec;
  std::vector<int> nodes;
  for (const auto& e : fs::directory_iterator("/sys/devices/system/node", ec)) {
    std::string n = e.path().filename().string();
    if (n.starts_with("node") && n.size() > 4 && std::isdigit(static_cast<unsigned char>(n[4])))
      nodes.push_back(std::atoi(n.c_str() + 4));
  }
  std::sort(nodes.begin(), nodes.end());
  for (int node : nodes) {
    std::string dir = "/sys/devices/system/node/node" + std::to_string(node);
    std::vector<int> ids = detail::parse_cpu_list(read_sysfs(dir + "/cpulist").value_or(""));
    if (ids.empty()) continue;
    Cpu cpu;
    cpu.numa_id = node;
    cpu.affinity = detail::cpus_to_affinity(ids, total);
    auto pkg = read_sysfs("/sys/devices/system/cpu/cpu" + std::to_string(ids[0]) +
                          "/topology/physical_package_id");
    if (pkg) cpu.package = std::atoi(pkg->c_str());
    out.push_back(std::move(cpu));
  }
  if (out.empty()) {
    // Kernel without NUMA: one node holding every online CPU.
    Cpu cpu;
    cpu.numa_id = 0;
    cpu.package = 0;
    auto online = detail::parse_cpu_list(read_sysfs("/sys/devices/system/cpu/online").value_or(""));
    if (online.empty()) {
      long n = sysconf(_SC_NPROCESSORS_ONLN);
      for (long i = 0; i < n; ++i) online.push_back(static_cast<int>(i));
    }
    cpu.affinity = detail::cpus_to_affinity(online, total);
    out.push_back(std::move(cpu));
  }
  return out;
}

}  // namespace tdm::topo::detail
