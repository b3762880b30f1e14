// This host's GPUs: which ones the CUDA runtime shows this process (ordinals,
// compute capability, peer access) and, through NVML, every GPU with its NVLinks
// and P2P status; and whether GPUDirect RDMA is available.
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "topo/dynlib.h"
#include "topo/internal.h"
#include "topo/probe.h"
#include "topo/topology.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace tdm::topo::detail {

namespace {

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

}  // namespace

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

}  // namespace tdm::topo::detail
