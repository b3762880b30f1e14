// Internals of the topology module shared by its .cc files and its unit tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "topo/topology.h"

namespace tdm::topo::detail {

// Checks indices (throws tdmInvalidArgument naming `source`), gives every PCI
// device the CPU of its root, lower-cases bus ids, sorts GPUs by CUDA ordinal and
// NICs by dev, and adds a CPU when there is none so every device has a home.
void normalize(HostTopology& host, std::string_view source);

// "00000000:1B:00.0" (NVML) or "0000:1b:00.0" -> "0000:1b:00.0".
std::string canonical_busid(std::string_view busid);

// cpumask "ffffffff,00ff0000" <-> list of CPU ids; list_string gives "0-55,112-167".
std::vector<int> affinity_to_cpus(std::string_view mask);
// total_cpus pads to as many words as the machine has, as sysfs does.
std::string cpus_to_affinity(const std::vector<int>& cpus, int total_cpus = 0);
std::string cpus_to_list(const std::vector<int>& cpus);

// PCI indices from the root down to `pci` itself.
std::vector<int> pci_chain(const HostTopology& host, int pci);

// ---- bandwidth model (GB/s, one direction; see docs/topology.md) ----
double pcie_bw(std::string_view link_speed, int link_width);
double nvlink_bw_per_link(const Gpu& gpu);
// NVLinks from `gpu` to NVSwitches, summed saturating (at 2^20) whatever the file lists.
int switch_nvlinks(const Gpu& gpu);
double cpu_interconnect_bw(const Cpu& a, const Cpu& b);
double nic_bw(const Nic& nic);
double latency_us(PathClass cls, bool host_memory);

// Path between devices of two hosts: each side reaches its NIC (-1: none known)
// through its host, then the wire; the slowest part bounds the bandwidth.
PathInfo net_path(const HostTopology& ha, Endpoint a, int nic_a, const HostTopology& hb, Endpoint b,
                  int nic_b);

// Bandwidth of a copy through host memory by one process (SHM transport).
inline constexpr double kShmBw = 12.0;
// Device-local copy bandwidth for two ranks on one GPU.
inline constexpr double kLocalGpuBw = 1000.0;
// Assumed when a host has no NIC in its description (10 GbE).
inline constexpr double kUnknownNetBw = 1.25;

}  // namespace tdm::topo::detail
