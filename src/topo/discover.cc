// Probing this host: CPUs/NUMA nodes and the PCI tree (hwloc, else sysfs), GPUs
// (NVML and the CUDA runtime), NICs (libibverbs and sysfs, else Ethernet netdevs).
// NVML, libcudart and libibverbs are dlopen'ed so libtandem has no hard dependency
// on them; each missing piece is an INFO line and the rest still works.
#include "topo/discover.h"

#include <dlfcn.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

#ifdef TANDEM_HAVE_HWLOC
#include <hwloc.h>
#endif

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

}  // namespace detail

namespace {

using detail::read_sysfs;

// ---- dlopen ---------------------------------------------------------------

// A dlopen handle closed on destruction. Opened with RTLD_NODELETE: the CUDA
// runtime and verbs providers install handlers (atexit, fork) that must outlive
// us, so the code stays mapped; closing only drops our reference.
class DynLib {
 public:
  DynLib(std::initializer_list<const char*> names) {
    // A copy the process already loaded (e.g. the framework's libcudart) first.
    for (int pass = 0; pass < 2 && !handle_; ++pass) {
      for (const char* n : names) {
        int flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | (pass == 0 ? RTLD_NOLOAD : 0);
        if ((handle_ = dlopen(n, flags))) {
          name_ = n;
          break;
        }
      }
    }
  }
  ~DynLib() {
    if (handle_) dlclose(handle_);
  }
  DynLib(const DynLib&) = delete;
  DynLib& operator=(const DynLib&) = delete;

  explicit operator bool() const { return handle_ != nullptr; }
  const std::string& name() const { return name_; }
  template <typename Fn>
  Fn sym(const char* symbol) const {
    return handle_ ? reinterpret_cast<Fn>(dlsym(handle_, symbol)) : nullptr;
  }

 private:
  void* handle_ = nullptr;
  std::string name_;
};

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

// ---- hwloc ------------------------------------------------------------------------

#ifdef TANDEM_HAVE_HWLOC
class Hwloc {
 public:
  Hwloc() {
    if (hwloc_topology_init(&topo_) != 0) {
      topo_ = nullptr;
      return;
    }
    hwloc_topology_set_io_types_filter(topo_, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo_) != 0) {
      hwloc_topology_destroy(topo_);
      topo_ = nullptr;
    }
  }
  ~Hwloc() {
    if (topo_) hwloc_topology_destroy(topo_);
  }
  Hwloc(const Hwloc&) = delete;
  Hwloc& operator=(const Hwloc&) = delete;
  explicit operator bool() const { return topo_ != nullptr; }

  std::vector<Cpu> cpus() const {
    std::vector<Cpu> out;
    int total = hwloc_bitmap_last(hwloc_topology_get_topology_cpuset(topo_)) + 1;
    int nnuma = hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < nnuma; ++i) {
      hwloc_obj_t node = hwloc_get_obj_by_type(topo_, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
      // Memory-only nodes (GPU HBM on Grace Hopper, CXL) have no CPUs to run on.
      if (!node->cpuset || hwloc_bitmap_iszero(node->cpuset)) continue;
      std::vector<int> ids;
      for (int c = hwloc_bitmap_first(node->cpuset); c >= 0; c = hwloc_bitmap_next(node->cpuset, c))
        ids.push_back(c);
      Cpu cpu;
      cpu.numa_id = static_cast<int>(node->os_index);
      cpu.affinity = detail::cpus_to_affinity(ids, total);
      hwloc_obj_t pkg = hwloc_get_next_obj_covering_cpuset_by_type(topo_, node->cpuset,
                                                                   HWLOC_OBJ_PACKAGE, nullptr);
      if (!pkg) {
        // A node spanning packages: take the first package it touches.
        int npkg = hwloc_get_nbobjs_by_type(topo_, HWLOC_OBJ_PACKAGE);
        for (int p = 0; p < npkg && !pkg; ++p) {
          hwloc_obj_t cand =
              hwloc_get_obj_by_type(topo_, HWLOC_OBJ_PACKAGE, static_cast<unsigned>(p));
          if (hwloc_bitmap_intersects(cand->cpuset, node->cpuset)) pkg = cand;
        }
      }
      if (pkg) {
        cpu.package = static_cast<int>(pkg->logical_index);
        if (const char* v = hwloc_obj_get_info_by_name(pkg, "CPUVendor")) cpu.vendor = v;
        if (const char* v = hwloc_obj_get_info_by_name(pkg, "CPUFamilyNumber"))
          cpu.family_id = std::atoi(v);
        if (const char* v = hwloc_obj_get_info_by_name(pkg, "CPUModelNumber"))
          cpu.model_id = std::atoi(v);
      }
      out.push_back(std::move(cpu));
    }
    return out;
  }

  // Bridges from the root port down to the device, then the device.
  std::vector<detail::PciChainEntry> chain(const std::string& busid) const {
    hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo_, busid.c_str());
    if (!dev) return {};
    std::vector<detail::PciChainEntry> out;
    out.push_back(entry(dev->attr->pcidev));
    for (hwloc_obj_t o = dev->parent; o && o->type == HWLOC_OBJ_BRIDGE; o = o->parent) {
      if (o->attr->bridge.upstream_type != HWLOC_OBJ_BRIDGE_PCI) break;  // host bridge
      out.push_back(entry(o->attr->bridge.upstream.pci));
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  int numa_of(const std::string& busid) const {
    hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo_, busid.c_str());
    if (!dev) return -1;
    hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo_, dev);
    if (!anc || !anc->nodeset || hwloc_bitmap_weight(anc->nodeset) != 1) return -1;
    return hwloc_bitmap_first(anc->nodeset);
  }

 private:
  static detail::PciChainEntry entry(const hwloc_obj_attr_u::hwloc_pcidev_attr_s& a) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%x", static_cast<unsigned>(a.domain),
                  static_cast<unsigned>(a.bus), static_cast<unsigned>(a.dev),
                  static_cast<unsigned>(a.func));
    detail::PciChainEntry e;
    e.busid = buf;
    e.class_code = static_cast<uint32_t>(a.class_id) << 8;  // hwloc drops the prog-if byte
    e.vendor = a.vendor_id;
    e.device = a.device_id;
    e.subsystem_vendor = a.subvendor_id;
    e.subsystem_device = a.subdevice_id;
    return e;
  }

  hwloc_topology_t topo_ = nullptr;
};
#endif

// ---- CPUs ---------------------------------------------------------------------------

std::string machine_arch() {
  struct utsname u {};
  if (uname(&u) != 0) return "";
  std::string m = u.machine;
  // NCCL's names.
  if (m == "aarch64") return "arm64";
  if (m.starts_with("ppc64")) return "ppc64";
  return m;
}

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

}  // namespace

std::vector<Cpu> detail::cpus_from_sysfs() {
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

namespace {

// ---- GPUs -------------------------------------------------------------------------------

struct GpuProbe {
  std::string busid;
  int dev = -1;
  int sm = 0;
  std::vector<NvLink> nvlinks;
};

// NVML's types, declared here from its public API so no header is needed.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlPciInfo_t {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
  char reserved[64];  // slack in case a newer NVML writes a longer struct
};
constexpr int kNvmlSuccess = 0;
constexpr unsigned kNvmlNvLinkMaxLinks = 18;
constexpr int kNvmlNvLinkDeviceTypeGpu = 0, kNvmlNvLinkDeviceTypeSwitch = 2;

struct Nvml {
  DynLib lib{"libnvidia-ml.so.1", "libnvidia-ml.so"};
  nvmlReturn_t (*init)() = lib.sym<nvmlReturn_t (*)()>("nvmlInit_v2");
  nvmlReturn_t (*shutdown)() = lib.sym<nvmlReturn_t (*)()>("nvmlShutdown");
  nvmlReturn_t (*count)(unsigned*) = lib.sym<nvmlReturn_t (*)(unsigned*)>("nvmlDeviceGetCount_v2");
  nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t*) =
      lib.sym<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>("nvmlDeviceGetHandleByIndex_v2");
  nvmlReturn_t (*pci_info)(nvmlDevice_t, nvmlPciInfo_t*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t*)>("nvmlDeviceGetPciInfo_v3");
  nvmlReturn_t (*cc)(nvmlDevice_t, int*, int*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, int*, int*)>("nvmlDeviceGetCudaComputeCapability");
  nvmlReturn_t (*link_state)(nvmlDevice_t, unsigned, int*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, unsigned, int*)>("nvmlDeviceGetNvLinkState");
  nvmlReturn_t (*link_remote)(nvmlDevice_t, unsigned, nvmlPciInfo_t*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, unsigned, nvmlPciInfo_t*)>(
          "nvmlDeviceGetNvLinkRemotePciInfo_v2");
  nvmlReturn_t (*link_type)(nvmlDevice_t, unsigned, int*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, unsigned, int*)>(
          "nvmlDeviceGetNvLinkRemoteDeviceType");
  nvmlReturn_t (*p2p)(nvmlDevice_t, nvmlDevice_t, int, int*) =
      lib.sym<nvmlReturn_t (*)(nvmlDevice_t, nvmlDevice_t, int, int*)>("nvmlDeviceGetP2PStatus");
  bool up = false;

  Nvml() { up = init && shutdown && count && by_index && pci_info && init() == kNvmlSuccess; }
  ~Nvml() {
    if (up) shutdown();
  }
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
};

std::string nvml_busid(const nvmlPciInfo_t& info) {
  std::string id(info.busId[0] ? info.busId : info.busIdLegacy);
  return detail::canonical_busid(id);
}

struct Cudart {
  DynLib lib{"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"};
  int (*count)(int*) = lib.sym<int (*)(int*)>("cudaGetDeviceCount");
  int (*busid)(char*, int, int) = lib.sym<int (*)(char*, int, int)>("cudaDeviceGetPCIBusId");
  int (*attr)(int*, int, int) = lib.sym<int (*)(int*, int, int)>("cudaDeviceGetAttribute");
  int (*can_access)(int*, int, int) = lib.sym<int (*)(int*, int, int)>("cudaDeviceCanAccessPeer");
};
constexpr int kCudaDevAttrCcMajor = 75, kCudaDevAttrCcMinor = 76;

struct GpuProbeResult {
  std::vector<GpuProbe> gpus;
  std::vector<std::pair<std::string, std::string>> refused_p2p;  // bus id pairs
};

GpuProbeResult probe_gpus() {
  GpuProbeResult out;
  std::map<std::string, size_t> by_busid;
  auto get = [&](const std::string& busid) -> GpuProbe& {
    auto [it, fresh] = by_busid.emplace(busid, out.gpus.size());
    if (fresh) {
      out.gpus.emplace_back();
      out.gpus.back().busid = busid;
    }
    return out.gpus[it->second];
  };

  // CUDA runtime: which GPUs this process sees, and their ordinals.
  Cudart cuda;
  int ndev = 0;
  std::vector<std::string> dev_busid;
  if (!cuda.lib || !cuda.count || !cuda.busid) {
    TDM_INFO("TOPO", "libcudart not found: CUDA device ordinals unknown");
  } else if (int rc = cuda.count(&ndev); rc != 0) {
    TDM_INFO("TOPO", cuda.lib.name(), ": cudaGetDeviceCount failed (error ", rc,
             "): no CUDA devices visible");
    ndev = 0;
  }
  for (int d = 0; d < ndev; ++d) {
    char buf[64] = {0};
    if (cuda.busid(buf, sizeof(buf), d) != 0) continue;
    std::string id = detail::canonical_busid(buf);
    dev_busid.push_back(id);
    GpuProbe& g = get(id);
    g.dev = d;
    int major = 0, minor = 0;
    if (cuda.attr && cuda.attr(&major, kCudaDevAttrCcMajor, d) == 0 &&
        cuda.attr(&minor, kCudaDevAttrCcMinor, d) == 0)
      g.sm = major * 10 + minor;
  }
  if (cuda.can_access) {
    for (int a = 0; a < static_cast<int>(dev_busid.size()); ++a)
      for (int b = 0; b < static_cast<int>(dev_busid.size()); ++b) {
        int ok = 1;
        if (a != b && cuda.can_access(&ok, a, b) == 0 && !ok)
          out.refused_p2p.emplace_back(dev_busid[static_cast<size_t>(a)],
                                       dev_busid[static_cast<size_t>(b)]);
      }
  }

  // NVML: every GPU on the host, NVLinks and P2P status.
  Nvml nvml;
  unsigned count = 0;
  if (!nvml.lib) {
    TDM_INFO("TOPO", "libnvidia-ml.so.1 not found: no NVLink information");
    return out;
  }
  if (!nvml.up || nvml.count(&count) != kNvmlSuccess) {
    TDM_INFO("TOPO", "NVML did not initialize (no NVIDIA driver?): no NVLink information");
    return out;
  }
  std::vector<std::pair<nvmlDevice_t, std::string>> handles;
  for (unsigned i = 0; i < count; ++i) {
    nvmlDevice_t h = nullptr;
    nvmlPciInfo_t info{};
    if (nvml.by_index(i, &h) != kNvmlSuccess || nvml.pci_info(h, &info) != kNvmlSuccess) continue;
    std::string id = nvml_busid(info);
    handles.emplace_back(h, id);
    GpuProbe& g = get(id);
    int major = 0, minor = 0;
    if (!g.sm && nvml.cc && nvml.cc(h, &major, &minor) == kNvmlSuccess) g.sm = major * 10 + minor;
    if (!nvml.link_state || !nvml.link_remote) continue;
    std::map<std::string, size_t> link_index;
    for (unsigned l = 0; l < kNvmlNvLinkMaxLinks; ++l) {
      int active = 0;
      if (nvml.link_state(h, l, &active) != kNvmlSuccess || !active) continue;
      nvmlPciInfo_t remote{};
      if (nvml.link_remote(h, l, &remote) != kNvmlSuccess) continue;
      std::string target = nvml_busid(remote);
      uint32_t tclass = 0;
      int type = -1;
      if (nvml.link_type && nvml.link_type(h, l, &type) == kNvmlSuccess) {
        if (type == kNvmlNvLinkDeviceTypeSwitch)
          tclass = kPciClassNvSwitch;
        else if (type == kNvmlNvLinkDeviceTypeGpu)
          tclass = kPciClassGpu3d;
      }
      if (!tclass) tclass = sysfs_hex(sysfs_dir(target), "class");
      auto [it, fresh] = link_index.emplace(target, g.nvlinks.size());
      if (fresh) g.nvlinks.push_back({target, 0, tclass});
      ++g.nvlinks[it->second].count;
    }
  }
  // Targets of unknown class: a GPU if NVML listed one there, else a switch (switches
  // are often hidden from containers and VMs).
  for (GpuProbe& g : out.gpus)
    for (NvLink& l : g.nvlinks)
      if (!l.target_class)
        l.target_class = by_busid.count(l.target) ? kPciClassGpu3d : kPciClassNvSwitch;
  if (nvml.p2p) {
    for (const auto& [ha, ia] : handles)
      for (const auto& [hb, ib] : handles) {
        int status = 0;
        // Index 0 = NVML_P2P_CAPS_INDEX_READ; status 0 = NVML_P2P_STATUS_OK.
        if (ia != ib && nvml.p2p(ha, hb, 0, &status) == kNvmlSuccess && status != 0)
          out.refused_p2p.emplace_back(ia, ib);
      }
  }
  return out;
}

bool gdr_available() {
  // GPUDirect RDMA through the peer-memory module; DMA-BUF needs the driver to ask.
  for (const char* p : {"/sys/kernel/mm/memory_peers/nv_mem/version", "/sys/module/nvidia_peermem",
                        "/sys/module/nv_peer_mem"}) {
    std::error_code ec;
    if (fs::exists(p, ec)) return true;
  }
  return false;
}

// ---- NICs -----------------------------------------------------------------------------

struct NicProbe {
  std::string name, busid, link_layer;
  int port = 1;
  double speed_mbps = 0;
  uint64_t guid = 0;
  int numa = -1;
  int maxconn = 0;
  bool rdma = false;
};

std::vector<NicProbe> probe_ib() {
  std::vector<NicProbe> out;
  DynLib lib{"libibverbs.so.1", "libibverbs.so"};
  using Dev = struct ibv_device;
  auto get_list = lib.sym<Dev** (*)(int*)>("ibv_get_device_list");
  auto free_list = lib.sym<void (*)(Dev**)>("ibv_free_device_list");
  auto get_name = lib.sym<const char* (*)(Dev*)>("ibv_get_device_name");
  if (!get_list || !free_list || !get_name) {
    TDM_INFO("TOPO", "libibverbs not found: no InfiniBand/RoCE NICs");
    return out;
  }
  int n = 0;
  Dev** list = get_list(&n);
  if (!list) {
    TDM_INFO("TOPO", "ibv_get_device_list failed: no InfiniBand/RoCE NICs");
    return out;
  }
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i)
    if (const char* name = get_name(list[i])) names.emplace_back(name);
  free_list(list);

  for (const std::string& name : names) {
    std::string dir = "/sys/class/infiniband/" + name;
    std::error_code ec;
    std::string busid = detail::last_busid_in_path(fs::canonical(dir + "/device", ec).string());
    std::string guid_text = read_sysfs(dir + "/node_guid").value_or("");
    guid_text.erase(std::remove(guid_text.begin(), guid_text.end(), ':'), guid_text.end());
    std::vector<int> ports;
    for (const auto& e : fs::directory_iterator(dir + "/ports", ec))
      ports.push_back(std::atoi(e.path().filename().c_str()));
    std::sort(ports.begin(), ports.end());
    for (int port : ports) {
      std::string pdir = dir + "/ports/" + std::to_string(port);
      std::string state = read_sysfs(pdir + "/state").value_or("");
      if (state.find("ACTIVE") == std::string::npos) continue;
      NicProbe nic;
      nic.name = name;
      nic.busid = busid;
      nic.port = port;
      nic.rdma = true;
      nic.maxconn = 131072;
      nic.guid = std::strtoull(guid_text.c_str(), nullptr, 16);
      nic.link_layer = read_sysfs(pdir + "/link_layer").value_or("InfiniBand");
      // "400 Gb/sec (4X NDR)"
      nic.speed_mbps =
          std::strtod(read_sysfs(pdir + "/rate").value_or("0").c_str(), nullptr) * 1000;
      auto numa = read_sysfs(dir + "/device/numa_node");
      nic.numa = numa ? std::atoi(numa->c_str()) : -1;
      out.push_back(std::move(nic));
    }
  }
  return out;
}

std::vector<NicProbe> probe_netdevs() {
  // Without RDMA devices the socket transport uses physical netdevs.
  std::vector<NicProbe> out;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("/sys/class/net", ec))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string dir = "/sys/class/net/" + name;
    std::error_code lec;
    fs::path dev = fs::canonical(dir + "/device", lec);
    if (lec) continue;  // virtual: lo, bridges, veth
    if (read_sysfs(dir + "/operstate").value_or("") != "up") continue;
    NicProbe nic;
    nic.name = name;
    nic.busid = detail::last_busid_in_path(dev.string());
    nic.port = 0;
    nic.maxconn = 65536;
    nic.link_layer = "Ethernet";
    long speed = std::atol(read_sysfs(dir + "/speed").value_or("-1").c_str());
    nic.speed_mbps = speed > 0 ? static_cast<double>(speed) : 10000;  // virtio reports none
    if (!nic.busid.empty()) nic.numa = sysfs_numa(nic.busid);
    out.push_back(std::move(nic));
  }
  return out;
}

// ---- assembling ------------------------------------------------------------------------

class Builder {
 public:
  explicit Builder(HostTopology& host) : host_(host) {}

#ifdef TANDEM_HAVE_HWLOC
  void use_hwloc(const Hwloc* hw) { hwloc_ = hw; }
#endif

  int cpu_for_numa(int numa) const {
    int c = numa >= 0 ? host_.cpu_by_numa(numa) : -1;
    return c >= 0 ? c : 0;
  }

  // Adds the device and the switches above it; returns its index.
  int add_device(const std::string& busid, int numa_hint = -1) {
    if (auto it = index_.find(busid); it != index_.end()) return it->second;
    std::vector<detail::PciChainEntry> chain;
#ifdef TANDEM_HAVE_HWLOC
    if (hwloc_) chain = hwloc_->chain(busid);
#endif
    if (chain.empty()) {
      std::error_code ec;
      for (const std::string& id :
           detail::busids_in_path(fs::canonical(sysfs_dir(busid), ec).string())) {
        detail::PciChainEntry e;
        e.busid = id;
        chain.push_back(e);
      }
    }
    if (chain.empty() || chain.back().busid != busid) {
      // Not in sysfs (container without /sys/bus/pci): a device on its CPU.
      detail::PciChainEntry e;
      e.busid = busid;
      chain = {e};
    }
    for (auto& e : chain) {
      PciDevice d;
      d.busid = e.busid;
      fill_from_sysfs(d);
      if (!e.class_code) e.class_code = d.class_code;
      if (!e.vendor) e.vendor = d.vendor;
      if (!e.device) e.device = d.device;
      if (!e.subsystem_vendor) e.subsystem_vendor = d.subsystem_vendor;
      if (!e.subsystem_device) e.subsystem_device = d.subsystem_device;
    }
    std::vector<detail::PciChainEntry> kept;
    detail::collapse_pci_chain(chain, &kept);

    int numa = sysfs_numa(busid);
#ifdef TANDEM_HAVE_HWLOC
    if (numa < 0 && hwloc_) numa = hwloc_->numa_of(busid);
#endif
    if (numa < 0) numa = numa_hint;
    int cpu = cpu_for_numa(numa);
    int parent = -1;
    for (const auto& e : kept) {
      auto it = index_.find(e.busid);
      if (it == index_.end()) {
        PciDevice d;
        d.busid = e.busid;
        d.cpu = cpu;
        d.parent = parent;
        d.class_code = e.class_code;
        d.vendor = e.vendor;
        d.device = e.device;
        d.subsystem_vendor = e.subsystem_vendor;
        d.subsystem_device = e.subsystem_device;
        fill_from_sysfs(d);
        it = index_.emplace(e.busid, static_cast<int>(host_.pci.size())).first;
        host_.pci.push_back(std::move(d));
      }
      parent = it->second;
    }
    return parent;
  }

 private:
  HostTopology& host_;
  std::map<std::string, int> index_;
#ifdef TANDEM_HAVE_HWLOC
  const Hwloc* hwloc_ = nullptr;
#endif
};

}  // namespace

std::vector<Cpu> detail::cpus_from_hwloc() {
#ifdef TANDEM_HAVE_HWLOC
  Hwloc hw;
  if (hw) return hw.cpus();
#endif
  return {};
}

HostTopology discover() {
  HostTopology host;
  char name[HOST_NAME_MAX + 1] = {0};
  if (gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;

  Builder builder(host);
#ifdef TANDEM_HAVE_HWLOC
  Hwloc hw;
  if (hw) {
    host.cpus = hw.cpus();
    builder.use_hwloc(&hw);
  } else {
    TDM_INFO("TOPO", "hwloc could not load the topology: reading sysfs instead");
  }
#else
  TDM_INFO("TOPO", "built without hwloc: reading CPUs and the PCI tree from sysfs");
#endif
  if (host.cpus.empty()) host.cpus = detail::cpus_from_sysfs();
  fill_cpu_identity(host.cpus);

  const bool gdr = gdr_available();
  GpuProbeResult gpus = probe_gpus();
  std::vector<NicProbe> nics = probe_ib();
  if (nics.empty()) nics = probe_netdevs();

  for (const GpuProbe& p : gpus.gpus) {
    Gpu g;
    g.pci = builder.add_device(p.busid);
    g.dev = p.dev;
    g.sm = p.sm;
    g.nvlinks = p.nvlinks;
    g.gdr = gdr;
    host.gpus.push_back(std::move(g));
  }
  // NVSwitches visible on PCI join the tree (NVLink targets that are not GPUs).
  for (const GpuProbe& p : gpus.gpus)
    for (const NvLink& l : p.nvlinks) {
      std::error_code ec;
      if (l.target_class == kPciClassNvSwitch && fs::exists(sysfs_dir(l.target), ec))
        builder.add_device(l.target);
    }
  for (const auto& [a, b] : gpus.refused_p2p) {
    int ia = host.gpu_by_busid(a), ib = host.gpu_by_busid(b);
    if (ia < 0 || ib < 0) continue;
    auto& list = host.gpus[static_cast<size_t>(ia)].no_p2p;
    if (std::find(list.begin(), list.end(), ib) == list.end()) list.push_back(ib);
  }
  int dev = 0;
  for (const NicProbe& p : nics) {
    Nic n;
    n.name = p.name;
    n.dev = dev++;
    n.port = p.port;
    n.speed_mbps = p.speed_mbps;
    n.guid = p.guid;
    n.maxconn = p.maxconn;
    n.link_layer = p.link_layer;
    n.gdr = gdr && p.rdma;
    if (!p.busid.empty())
      n.pci = builder.add_device(p.busid, p.numa);
    else
      n.cpu = builder.cpu_for_numa(p.numa);
    host.nics.push_back(std::move(n));
  }
  detail::normalize(host, "topology discovery");
  TDM_INFO("TOPO", "host ", host.hostname, ": ", host.cpus.size(), " NUMA nodes, ",
           host.gpus.size(), " GPUs, ", host.nics.size(), " NICs, ", host.pci.size(),
           " PCI devices");
  return host;
}

HostTopology local_host() {
  HostTopology host;
  if (auto file = env::get("TANDEM_TOPO_FILE")) {
    host = load_xml(*file);
    if (host.hostname.empty()) {
      char name[HOST_NAME_MAX + 1] = {0};
      if (gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;
    }
    TDM_INFO("TOPO", "topology read from TANDEM_TOPO_FILE=", *file);
  } else {
    host = discover();
  }
  if (auto dump = env::get("TANDEM_TOPO_DUMP_FILE")) {
    save_xml(host, *dump);
    TDM_INFO("TOPO", "topology written to TANDEM_TOPO_DUMP_FILE=", *dump);
  }
  return host;
}

}  // namespace tdm::topo
