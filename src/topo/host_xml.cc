// HostTopology <-> NCCL topology XML, and the bootstrap serialization.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "topo/internal.h"
#include "topo/topology.h"
#include "topo/xml.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::topo {

namespace {

// Caps on numeric attributes, physically generous, so that nothing derived
// from a file (sums of links, bandwidths, the integers written back out)
// can overflow.
constexpr int kMaxIndex = 1 << 20;  // dev, rank, numaid, package, port
constexpr int kMaxLinks = 1024;     // NVLinks in one <nvlink> element
constexpr int kMaxLinkWidth = 64;   // PCIe lanes (x32 is the widest defined)
constexpr int kMaxSm = 10000;       // compute capability x 10
constexpr int kMaxCpuId = 1 << 20;  // familyid, modelid
constexpr int kMaxConn = 1 << 30;
constexpr double kMaxNvLinkBw = 1e6;  // GB/s per link
constexpr double kMaxNetSpeed = 1e9;  // Mb/s: 1 Pb/s
constexpr double kMaxLatency = 1e6;   // us: one second

// Attribute readers: strict, so a typo in a hand-written file is reported
// instead of silently becoming 0, and range-checked.
struct Reader {
  std::string_view source;

  template <typename T>
  [[noreturn]] void bad(const xml::Node& n, std::string_view key, const std::string& v, T min,
                        T max) const {
    throw_error(tdmInvalidArgument, source, ": <", n.name, "> attribute ", key, "=\"", v,
                "\" is not valid: expected a number from ", +min, " to ", +max);
  }

  // Decimal or 0x hex, in [min, max] (by default all of T).
  template <typename T>
  T number(const xml::Node& n, std::string_view key, T fallback,
           T min = std::numeric_limits<T>::min(), T max = std::numeric_limits<T>::max()) const {
    const std::string* v = n.find(key);
    if (!v || v->empty()) return fallback;
    std::string_view s = *v;
    int base = 10;
    if (s.starts_with("0x") || s.starts_with("0X")) {
      s.remove_prefix(2);
      base = 16;
    }
    T out{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || out < min || out > max)
      bad(n, key, *v, min, max);
    return out;
  }

  // Finite, in [0, max].
  double real(const xml::Node& n, std::string_view key, double fallback, double max) const {
    const std::string* v = n.find(key);
    if (!v || v->empty()) return fallback;
    double out = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc() || end != v->data() + v->size() || !std::isfinite(out) || out < 0 ||
        out > max)
      bad(n, key, *v, 0.0, max);
    return out;
  }

  bool flag(const xml::Node& n, std::string_view key) const {
    return number<int>(n, key, 0, 0, 1) != 0;
  }
};

void ignore(const xml::Node& n, std::string_view where) {
  TDM_TRACE("TOPO", "topology XML: ignoring <", n.name, "> in <", where, ">");
}

struct Loader {
  Reader r;
  HostTopology host;
  // tdm_nop2p holds bus ids; resolved once every GPU is known.
  std::vector<std::pair<int, std::string>> pending_no_p2p;

  void load_gpu(const xml::Node& n, int pci) {
    Gpu g;
    g.pci = pci;
    g.dev = r.number<int>(n, "dev", -1, -1, kMaxIndex);
    g.sm = r.number<int>(n, "sm", 0, 0, kMaxSm);
    g.rank = r.number<int>(n, "rank", -1, -1, kMaxIndex);
    g.gdr = r.flag(n, "gdr");
    g.nvlink_bw = r.real(n, "tdm_nvlink_bw", 0, kMaxNvLinkBw);
    for (const xml::Node& c : n.children) {
      if (c.name != "nvlink") {
        ignore(c, "gpu");
        continue;
      }
      NvLink l;
      l.target = detail::canonical_busid(c.get("target"));
      l.count = r.number<int>(c, "count", 1, 0, kMaxLinks);
      l.target_class = r.number<uint32_t>(c, "tclass", 0);
      g.nvlinks.push_back(std::move(l));
    }
    if (const std::string* list = n.find("tdm_nop2p")) {
      std::istringstream in(*list);
      std::string busid;
      while (in >> busid) pending_no_p2p.emplace_back(static_cast<int>(host.gpus.size()), busid);
    }
    host.gpus.push_back(std::move(g));
  }

  void load_nic(const xml::Node& n, int cpu, int pci) {
    for (const xml::Node& c : n.children) {
      if (c.name != "net") {
        ignore(c, "nic");
        continue;
      }
      Nic nic;
      nic.pci = pci;
      nic.cpu = cpu;
      nic.name = c.get("name");
      nic.dev = r.number<int>(c, "dev", static_cast<int>(host.nics.size()), 0, kMaxIndex);
      nic.port = r.number<int>(c, "port", 1, 0, kMaxIndex);
      nic.speed_mbps = r.real(c, "speed", 0, kMaxNetSpeed);
      nic.latency_us = r.real(c, "latency", 0, kMaxLatency);
      nic.guid = r.number<uint64_t>(c, "guid", 0);
      nic.maxconn = r.number<int>(c, "maxconn", 0, 0, kMaxConn);
      nic.gdr = r.flag(c, "gdr");
      nic.link_layer = c.get("tdm_link_layer");
      host.nics.push_back(std::move(nic));
    }
  }

  void load_pci(const xml::Node& n, int cpu, int parent) {
    PciDevice d;
    d.busid = n.get("busid");
    d.cpu = cpu;
    d.parent = parent;
    d.class_code = r.number<uint32_t>(n, "class", 0);
    d.vendor = r.number<uint16_t>(n, "vendor", 0);
    d.device = r.number<uint16_t>(n, "device", 0);
    d.subsystem_vendor = r.number<uint16_t>(n, "subsystem_vendor", 0);
    d.subsystem_device = r.number<uint16_t>(n, "subsystem_device", 0);
    d.link_speed = n.get("link_speed");
    d.link_width = r.number<int>(n, "link_width", 0, 0, kMaxLinkWidth);
    if (d.busid.empty()) throw_error(tdmInvalidArgument, r.source, ": <pci> without busid");
    int self = static_cast<int>(host.pci.size());
    host.pci.push_back(std::move(d));
    for (const xml::Node& c : n.children) {
      if (c.name == "pci")
        load_pci(c, cpu, self);
      else if (c.name == "gpu")
        load_gpu(c, self);
      else if (c.name == "nic")
        load_nic(c, cpu, self);
      else
        ignore(c, "pci");
    }
  }

  void load_cpu(const xml::Node& n) {
    Cpu c;
    c.numa_id = r.number<int>(n, "numaid", static_cast<int>(host.cpus.size()), -1, kMaxIndex);
    c.package = r.number<int>(n, "tdm_package", -1, -1, kMaxIndex);
    c.affinity = n.get("affinity");
    c.arch = n.get("arch");
    c.vendor = n.get("vendor");
    c.family_id = r.number<int>(n, "familyid", 0, 0, kMaxCpuId);
    c.model_id = r.number<int>(n, "modelid", 0, 0, kMaxCpuId);
    int self = static_cast<int>(host.cpus.size());
    host.cpus.push_back(std::move(c));
    for (const xml::Node& child : n.children) {
      if (child.name == "pci")
        load_pci(child, self, -1);
      else if (child.name == "nic")
        load_nic(child, self, -1);
      else
        ignore(child, "cpu");
    }
  }
};

std::string hex(uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}

std::string real_string(double v) {
  // Integers print without a fraction (speed="400000"), like NCCL's dumps.
  // The range test first: casting a double past long long is undefined.
  char buf[64];
  if (std::fabs(v) < 1e15 && v == static_cast<double>(static_cast<long long>(v)))
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
  else  // the shortest text that reads back as the same double: peers must
        // deserialize exactly what was serialized (%g kept 6 digits)
    *std::to_chars(buf, buf + sizeof(buf) - 1, v).ptr = '\0';
  return buf;
}

struct Writer {
  const HostTopology& host;
  std::vector<std::vector<int>> pci_children;  // by pci index
  std::vector<std::vector<int>> gpu_at, nics_at;

  explicit Writer(const HostTopology& h)
      : host(h), pci_children(h.pci.size()), gpu_at(h.pci.size()), nics_at(h.pci.size()) {
    for (size_t i = 0; i < h.pci.size(); ++i)
      if (h.pci[i].parent >= 0)
        pci_children[static_cast<size_t>(h.pci[i].parent)].push_back(static_cast<int>(i));
    for (size_t i = 0; i < h.gpus.size(); ++i)
      gpu_at[static_cast<size_t>(h.gpus[i].pci)].push_back(static_cast<int>(i));
    for (size_t i = 0; i < h.nics.size(); ++i)
      if (h.nics[i].pci >= 0)
        nics_at[static_cast<size_t>(h.nics[i].pci)].push_back(static_cast<int>(i));
  }

  void nic(xml::Node& parent, const std::vector<int>& nics) {
    if (nics.empty()) return;
    xml::Node& n = parent.add("nic");
    for (int i : nics) {
      const Nic& x = host.nics[static_cast<size_t>(i)];
      xml::Node& net = n.add("net");
      net.set("name", x.name);
      net.set("dev", std::to_string(x.dev));
      net.set("speed", real_string(x.speed_mbps));
      net.set("port", std::to_string(x.port));
      net.set("latency", real_string(x.latency_us));
      net.set("guid", hex(x.guid, 0));
      net.set("maxconn", std::to_string(x.maxconn));
      net.set("gdr", x.gdr ? "1" : "0");
      if (!x.link_layer.empty()) net.set("tdm_link_layer", x.link_layer);
    }
  }

  void gpu(xml::Node& parent, int i) {
    const Gpu& g = host.gpus[static_cast<size_t>(i)];
    xml::Node& n = parent.add("gpu");
    n.set("dev", std::to_string(g.dev));
    n.set("sm", std::to_string(g.sm));
    n.set("rank", std::to_string(g.rank));
    n.set("gdr", g.gdr ? "1" : "0");
    if (g.nvlink_bw > 0) n.set("tdm_nvlink_bw", real_string(g.nvlink_bw));
    if (!g.no_p2p.empty()) {
      std::string list;
      for (int q : g.no_p2p) list += (list.empty() ? "" : " ") + host.busid_of_gpu(q);
      n.set("tdm_nop2p", list);
    }
    for (const NvLink& l : g.nvlinks) {
      xml::Node& link = n.add("nvlink");
      link.set("target", l.target);
      link.set("count", std::to_string(l.count));
      link.set("tclass", hex(l.target_class, 6));
    }
  }

  void pci(xml::Node& parent, int i) {
    const PciDevice& d = host.pci[static_cast<size_t>(i)];
    xml::Node& n = parent.add("pci");
    n.set("busid", d.busid);
    n.set("class", hex(d.class_code, 6));
    n.set("vendor", hex(d.vendor, 4));
    n.set("device", hex(d.device, 4));
    n.set("subsystem_vendor", hex(d.subsystem_vendor, 4));
    n.set("subsystem_device", hex(d.subsystem_device, 4));
    n.set("link_speed", d.link_speed);
    n.set("link_width", std::to_string(d.link_width));
    for (int g : gpu_at[static_cast<size_t>(i)]) gpu(n, g);
    nic(n, nics_at[static_cast<size_t>(i)]);
    for (int c : pci_children[static_cast<size_t>(i)]) pci(n, c);
  }

  xml::Node system() {
    xml::Node root;
    root.name = "system";
    root.set("version", "1");
    if (!host.hostname.empty()) root.set("tdm_hostname", host.hostname);
    for (size_t c = 0; c < host.cpus.size(); ++c) {
      const Cpu& cpu = host.cpus[c];
      xml::Node& n = root.add("cpu");
      n.set("numaid", std::to_string(cpu.numa_id));
      if (!cpu.affinity.empty()) n.set("affinity", cpu.affinity);
      if (!cpu.arch.empty()) n.set("arch", cpu.arch);
      if (!cpu.vendor.empty()) n.set("vendor", cpu.vendor);
      if (cpu.family_id) n.set("familyid", std::to_string(cpu.family_id));
      if (cpu.model_id) n.set("modelid", std::to_string(cpu.model_id));
      if (cpu.package >= 0) n.set("tdm_package", std::to_string(cpu.package));
      for (size_t i = 0; i < host.pci.size(); ++i)
        if (host.pci[i].parent < 0 && host.pci[i].cpu == static_cast<int>(c))
          pci(n, static_cast<int>(i));
      std::vector<int> virtual_nics;
      for (size_t i = 0; i < host.nics.size(); ++i)
        if (host.nics[i].pci < 0 && host.nics[i].cpu == static_cast<int>(c))
          virtual_nics.push_back(static_cast<int>(i));
      nic(n, virtual_nics);
    }
    return root;
  }
};

}  // namespace

HostTopology from_xml_string(std::string_view text, std::string_view source) {
  xml::Node root = xml::parse(text, source);
  if (root.name != "system")
    throw_error(tdmInvalidArgument, source, ": root element is <", root.name,
                ">, expected <system> (NCCL topology XML)");
  if (root.get("version", "1") != "1")
    TDM_INFO("TOPO", source, ": topology XML version ", root.get("version"),
             " is newer than 1; reading what is understood");
  Loader loader{Reader{source}, {}, {}};
  loader.host.hostname = root.get("tdm_hostname");
  for (const xml::Node& c : root.children) {
    if (c.name == "cpu")
      loader.load_cpu(c);
    else
      ignore(c, "system");
  }
  HostTopology& host = loader.host;
  // Before normalize() reorders GPUs: bus ids to indices.
  for (const auto& [gpu, busid] : loader.pending_no_p2p) {
    int peer = -1;
    std::string want = detail::canonical_busid(busid);
    for (size_t i = 0; i < host.gpus.size(); ++i)
      if (detail::canonical_busid(host.pci[static_cast<size_t>(host.gpus[i].pci)].busid) == want)
        peer = static_cast<int>(i);
    if (peer >= 0) host.gpus[static_cast<size_t>(gpu)].no_p2p.push_back(peer);
  }
  detail::normalize(host, source);
  return std::move(loader.host);
}

std::string to_xml_string(const HostTopology& host) {
  return xml::write(Writer(host).system(), /*pretty=*/true);
}

HostTopology load_xml(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw_error(tdmInvalidArgument, "cannot open topology file ", path,
                " (check TANDEM_TOPO_FILE or --file)");
  std::ostringstream text;
  text << in.rdbuf();
  return from_xml_string(text.str(), path);
}

void save_xml(const HostTopology& host, const std::string& path) {
  std::string text = to_xml_string(host);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw_error(tdmSystemError, "cannot write topology file ", path);
  out << text;
  out.flush();
  if (!out) throw_error(tdmSystemError, "error writing topology file ", path);
}

std::string serialize(const HostTopology& host) {
  return xml::write(Writer(host).system(), /*pretty=*/false);
}

HostTopology deserialize(std::string_view bytes) {
  return from_xml_string(bytes, "<peer topology>");
}

}  // namespace tdm::topo
