// Pieces of discovery that unit tests exercise against this machine's sysfs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topo/topology.h"

namespace tdm::topo::detail {

// First line of a sysfs file without its newline; nullopt when unreadable.
std::optional<std::string> read_sysfs(const std::string& path);
// "0000:1b:00.0"-shaped path component.
bool is_busid(std::string_view s);
// The bus ids along a sysfs device path, root side first.
std::vector<std::string> busids_in_path(const std::string& path);
std::string last_busid_in_path(const std::string& path);
// "0-3,8,10-11" -> {0,1,2,3,8,10,11}
std::vector<int> parse_cpu_list(std::string_view list);

struct PciChainEntry {
  std::string busid;
  uint32_t class_code = 0;
  uint16_t vendor = 0, device = 0, subsystem_vendor = 0, subsystem_device = 0;
};
// Bridges from root port to device, then the device -> the switches NCCL's files
// keep (one per switch, two-level Broadcom/PLX chips merged), then the device.
std::vector<std::string> collapse_pci_chain(const std::vector<PciChainEntry>& chain,
                                            std::vector<PciChainEntry>* kept = nullptr);

// NUMA nodes with CPUs, from sysfs / from hwloc (empty without hwloc).
std::vector<Cpu> cpus_from_sysfs();
std::vector<Cpu> cpus_from_hwloc();

}  // namespace tdm::topo::detail
