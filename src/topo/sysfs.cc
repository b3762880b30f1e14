// Reading sysfs: one-line files, bus ids along device paths, CPU lists and the
// attributes of a PCI device; and the switches NCCL's files keep of a chain of
// PCI bridges.
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "topo/discover.h"
#include "topo/probe.h"
#include "topo/topology.h"

namespace fs = std::filesystem;

namespace tdm::topo {

namespace detail {

std::optional<std::string> read_sysfs(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string s;
  std::getline(in, s);
  if (!in && !in.eof()) return std::nullopt;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

bool is_busid(std::string_view s) {
  // dddd:bb:dd.f, with domains of 4 or more hex digits (VMD uses 5).
  size_t c1 = s.find(':');
  if (c1 == std::string_view::npos || c1 < 4) return false;
  if (s.size() != c1 + 8 || s[c1 + 3] != ':' || s[c1 + 6] != '.') return false;
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < c1; ++i)
    if (!hex(s[i])) return false;
  return hex(s[c1 + 1]) && hex(s[c1 + 2]) && hex(s[c1 + 4]) && hex(s[c1 + 5]) && s[c1 + 7] >= '0' &&
         s[c1 + 7] <= '7';
}

std::vector<std::string> busids_in_path(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& part : fs::path(path))
    if (is_busid(part.string())) out.push_back(part.string());
  return out;
}

std::string last_busid_in_path(const std::string& path) {
  auto ids = busids_in_path(path);
  return ids.empty() ? std::string() : ids.back();
}

std::vector<int> parse_cpu_list(std::string_view list) {
  std::vector<int> cpus;
  size_t i = 0;
  while (i < list.size()) {
    size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    std::string item(list.substr(i, comma - i));
    size_t dash = item.find('-');
    char* end = nullptr;
    long lo = std::strtol(item.c_str(), &end, 10);
    long hi = dash == std::string::npos ? lo : std::strtol(item.c_str() + dash + 1, &end, 10);
    for (long c = lo; c <= hi && c - lo < 1 << 20; ++c) cpus.push_back(static_cast<int>(c));
    i = comma + 1;
  }
  return cpus;
}

std::vector<std::string> collapse_pci_chain(const std::vector<PciChainEntry>& chain,
                                            std::vector<PciChainEntry>* kept) {
  // chain: [root port, upstream, downstream, upstream, downstream, ..., device].
  // A switch is its upstream port (odd positions above the device); root and
  // downstream ports are left out, as NCCL's files do.
  std::vector<PciChainEntry> switches;
  for (size_t i = 1; i + 1 < chain.size(); i += 2) switches.push_back(chain[i]);
  // Broadcom/PLX PEX parts present one chip as two switch levels with the same
  // device id; count them once, or GPU and NIC on one chip would read PXB.
  std::vector<PciChainEntry> merged;
  for (const PciChainEntry& s : switches) {
    if (!merged.empty() && (s.vendor == 0x1000 || s.vendor == 0x10b5) &&
        merged.back().vendor == s.vendor && merged.back().device == s.device)
      continue;
    merged.push_back(s);
  }
  if (!chain.empty()) merged.push_back(chain.back());
  std::vector<std::string> ids;
  for (const auto& e : merged) ids.push_back(e.busid);
  if (kept) *kept = std::move(merged);
  return ids;
}

// ---- PCI attributes from sysfs ---------------------------------------------------

uint32_t sysfs_hex(const std::string& dir, const char* file) {
  auto v = read_sysfs(dir + "/" + file);
  return v ? static_cast<uint32_t>(std::strtoul(v->c_str(), nullptr, 16)) : 0;
}

std::string sysfs_dir(const std::string& busid) { return "/sys/bus/pci/devices/" + busid; }

int sysfs_numa(const std::string& busid) {
  // The device's node, else the nearest bridge above it that knows.
  std::error_code ec;
  fs::path p = fs::canonical(sysfs_dir(busid), ec);
  for (; !ec && detail::is_busid(p.filename().string()); p = p.parent_path()) {
    auto v = read_sysfs((p / "numa_node").string());
    if (v && std::atoi(v->c_str()) >= 0) return std::atoi(v->c_str());
  }
  return -1;
}

void fill_from_sysfs(PciDevice& d) {
  std::string dir = sysfs_dir(d.busid);
  if (!d.class_code) d.class_code = sysfs_hex(dir, "class");
  if (!d.vendor) d.vendor = static_cast<uint16_t>(sysfs_hex(dir, "vendor"));
  if (!d.device) d.device = static_cast<uint16_t>(sysfs_hex(dir, "device"));
  if (!d.subsystem_vendor)
    d.subsystem_vendor = static_cast<uint16_t>(sysfs_hex(dir, "subsystem_vendor"));
  if (!d.subsystem_device)
    d.subsystem_device = static_cast<uint16_t>(sysfs_hex(dir, "subsystem_device"));
  // max_*: GPUs drop to 2.5 GT/s when idle, so the current speed under-reports.
  if (auto s = read_sysfs(dir + "/max_link_speed"); s && *s != "Unknown") d.link_speed = *s;
  if (auto w = read_sysfs(dir + "/max_link_width")) d.link_width = std::atoi(w->c_str());
}

}  // namespace detail

}  // namespace tdm::topo
