// The JSON output (schema "tandem-topo/1", docs/topology.md): hosts, devices,
// links, paths between GPUs and from GPUs to NICs, ranks and the ring.
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

#include "topo/internal.h"
#include "topo/render.h"
#include "topo/render_internal.h"
#include "topo/topology.h"

namespace tdm::topo {

namespace {

using render_detail::cpu_list;
using render_detail::Device;
using render_detail::Graph;
using render_detail::hex4;
using render_detail::hex_class;
using render_detail::host_prefix;
using render_detail::join;
using render_detail::Link;

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

}  // namespace

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

}  // namespace tdm::topo
