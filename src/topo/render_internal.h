// Pieces the renderers share (render_common.cc): number formats, what sits on
// each PCI device of a host, one-line descriptions; and the device/link graph
// that JSON and DOT both print (render_graph.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/topology.h"

namespace tdm::topo::render_detail {

// "%.*f"
std::string fixed(double v, int digits = 1);
// "%04x"
std::string hex4(unsigned v);
// "0x%06x"
std::string hex_class(uint32_t v);
// "1,2,3" with sep ","
std::string join(const std::vector<int>& v, const char* sep = ",");

// What each PCI device of a host is, and which ranks sit on which device.
struct HostIndex {
  std::vector<int> gpu_at;                 // pci -> gpu index or -1
  std::vector<std::vector<int>> nics_at;   // pci -> nic indices
  std::vector<std::vector<int>> children;  // pci -> child pci
  std::vector<std::vector<int>> roots;     // cpu -> top-level pci
  std::vector<std::vector<int>> gpu_ranks;
  std::vector<std::vector<int>> cpu_ranks;  // ranks without GPU, by cpu (unknown: last)
  bool has_nvswitch = false;

  HostIndex(const JobTopology& job, int hidx);
};

// The CPUs of `c` as a list: "0-55,112-167".
std::string cpu_list(const Cpu& c);
// Link speed and width of `d` with the bandwidth they give, in GB/s.
std::string pci_link(const PciDevice& d);
// NIC `n` of `h` on one line: name, port, bus id, speed, link layer, GPUDirect RDMA.
std::string nic_line(const HostTopology& h, int n);

// ---- graph shared by JSON and DOT (render_graph.cc) ----

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

// Prefix of the ids of host `h`'s devices: "h0/".
std::string host_prefix(int h);

struct Graph {
  std::vector<Device> devices;
  std::vector<Link> links;
  bool network = false;

  explicit Graph(const JobTopology& job);

  void add_host(const JobTopology& job, int hidx);

  static bool has_link_to(const Gpu& g, const std::string& busid);
};

}  // namespace tdm::topo::render_detail
