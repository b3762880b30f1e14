// This host through hwloc: NUMA nodes with their CPUs and packages, the PCI
// bridges above a device and the NUMA node a device hangs off.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "topo/discover.h"
#include "topo/internal.h"
#include "topo/probe.h"
#include "topo/topology.h"

namespace tdm::topo::detail {

#ifdef TANDEM_HAVE_HWLOC
Hwloc::Hwloc() {
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

Hwloc::~Hwloc() {
  if (topo_) hwloc_topology_destroy(topo_);
}

std::vector<Cpu> Hwloc::cpus() const {
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
    hwloc_obj_t pkg =
        hwloc_get_next_obj_covering_cpuset_by_type(topo_, node->cpuset, HWLOC_OBJ_PACKAGE, nullptr);
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

std::vector<detail::PciChainEntry> Hwloc::chain(const std::string& busid) const {
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

int Hwloc::numa_of(const std::string& busid) const {
  hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo_, busid.c_str());
  if (!dev) return -1;
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo_, dev);
  if (!anc || !anc->nodeset || hwloc_bitmap_weight(anc->nodeset) != 1) return -1;
  return hwloc_bitmap_first(anc->nodeset);
}

detail::PciChainEntry Hwloc::entry(const hwloc_obj_attr_u::hwloc_pcidev_attr_s& a) {
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
#endif

std::vector<Cpu> cpus_from_hwloc() {
#ifdef TANDEM_HAVE_HWLOC
  Hwloc hw;
  if (hw) return hw.cpus();
#endif
  return {};
}

}  // namespace tdm::topo::detail
