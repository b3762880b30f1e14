// The Graphviz DOT output: one cluster per host, devices styled by type, links
// labelled with their bandwidth (tandem-topo --format svg runs it through dot).
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "topo/render.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo {

namespace {

using render_detail::cpu_list;
using render_detail::Device;
using render_detail::fixed;
using render_detail::Graph;
using render_detail::hex_class;
using render_detail::Link;

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
