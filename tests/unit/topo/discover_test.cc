// Probing the machine the test runs on (CI: no GPU, maybe no NUMA, maybe no
// verbs): it must work with whatever is there. Plus the sysfs/PCI helpers.
#include "topo/discover.h"

#include <gtest/gtest.h>

#include "topo/internal.h"
#include "topo/topology.h"

namespace tdm::topo {
namespace {

TEST(TopoDiscover, ProbesThisMachineWithoutFailing) {
  HostTopology h = discover();
  ASSERT_FALSE(h.cpus.empty());
  EXPECT_FALSE(h.hostname.empty());
  for (const Cpu& c : h.cpus) EXPECT_FALSE(detail::affinity_to_cpus(c.affinity).empty());
  for (const PciDevice& d : h.pci) {
    EXPECT_TRUE(detail::is_busid(d.busid)) << d.busid;
    EXPECT_GE(d.cpu, 0);
    EXPECT_LT(d.cpu, static_cast<int>(h.cpus.size()));
  }
  for (size_t g = 0; g < h.gpus.size(); ++g) {
    EXPECT_GE(h.gpus[g].pci, 0);
    if (g > 0 && h.gpus[g].dev >= 0) {
      EXPECT_GT(h.gpus[g].dev, h.gpus[g - 1].dev);
    }
  }
  for (size_t n = 0; n < h.nics.size(); ++n) {
    EXPECT_FALSE(h.nics[n].name.empty());
    EXPECT_GT(h.nics[n].speed_mbps, 0);
  }
  // What was found survives the bootstrap exchange and the dump file.
  EXPECT_EQ(to_xml_string(deserialize(serialize(h))), to_xml_string(h));
  // And every pair of devices has a path.
  JobTopology job = build({h}, {});
  for (size_t n = 0; n < h.nics.size(); ++n)
    EXPECT_NE(
        host_path(h, {Endpoint::Kind::kCpu, 0}, {Endpoint::Kind::kNic, static_cast<int>(n)}).cls,
        PathClass::kDIS);
  EXPECT_EQ(job.nhosts(), 1);
}

TEST(TopoDiscover, HwlocAndSysfsAgreeOnNumaNodes) {
  std::vector<Cpu> sys = detail::cpus_from_sysfs();
  ASSERT_FALSE(sys.empty());
  std::vector<Cpu> hw = detail::cpus_from_hwloc();
#ifdef TANDEM_HAVE_HWLOC
  ASSERT_EQ(hw.size(), sys.size());
  for (size_t i = 0; i < hw.size(); ++i) {
    EXPECT_EQ(hw[i].numa_id, sys[i].numa_id);
    EXPECT_EQ(detail::affinity_to_cpus(hw[i].affinity), detail::affinity_to_cpus(sys[i].affinity));
  }
#else
  EXPECT_TRUE(hw.empty());
#endif
}

TEST(TopoDiscover, BusIdShapes) {
  EXPECT_TRUE(detail::is_busid("0000:1b:00.0"));
  EXPECT_TRUE(detail::is_busid("10000:e1:00.7"));  // VMD domain
  EXPECT_FALSE(detail::is_busid("pci0000:00"));
  EXPECT_FALSE(detail::is_busid("0000:1b:00.8"));
  EXPECT_FALSE(detail::is_busid("00:1b:00.0"));
  EXPECT_FALSE(detail::is_busid("0000:1b:00"));
  EXPECT_FALSE(detail::is_busid("virtio2"));
  EXPECT_EQ(
      detail::busids_in_path("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:08.0/"
                             "0000:03:00.0"),
      (std::vector<std::string>{"0000:00:01.0", "0000:01:00.0", "0000:02:08.0", "0000:03:00.0"}));
  EXPECT_EQ(detail::last_busid_in_path("/sys/devices/pci0000:00/0000:00:03.0/virtio2"),
            "0000:00:03.0");
  EXPECT_EQ(detail::last_busid_in_path("/sys/devices/virtual/net/lo"), "");
}

TEST(TopoDiscover, CpuLists) {
  EXPECT_EQ(detail::parse_cpu_list("0-3,8,10-11"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(detail::parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_TRUE(detail::parse_cpu_list("").empty());
}

detail::PciChainEntry entry(const char* busid, uint16_t vendor = 0, uint16_t device = 0) {
  detail::PciChainEntry e;
  e.busid = busid;
  e.vendor = vendor;
  e.device = device;
  return e;
}

TEST(TopoDiscover, PciChainKeepsOneNodePerSwitch) {
  using V = std::vector<std::string>;
  // Device on a root port: no switch.
  EXPECT_EQ(detail::collapse_pci_chain({entry("0000:00:01.0"), entry("0000:01:00.0")}),
            V{"0000:01:00.0"});
  // Virtual machine: device on the root bus.
  EXPECT_EQ(detail::collapse_pci_chain({entry("0000:00:05.0")}), V{"0000:00:05.0"});
  // Root port, switch up/down port, device: the switch is its upstream port.
  EXPECT_EQ(detail::collapse_pci_chain({entry("0000:00:01.0"), entry("0000:01:00.0"),
                                        entry("0000:02:08.0"), entry("0000:03:00.0")}),
            (V{"0000:01:00.0", "0000:03:00.0"}));
  // Two cascaded switches of different kinds stay two.
  EXPECT_EQ(
      detail::collapse_pci_chain({entry("0000:80:01.0"), entry("0000:81:00.0", 0x1000, 0xc010),
                                  entry("0000:82:00.0"), entry("0000:83:00.0", 0x11f8, 0x4028),
                                  entry("0000:84:00.0"), entry("0000:85:00.0")}),
      (V{"0000:81:00.0", "0000:83:00.0", "0000:85:00.0"}));
  // A Broadcom PEX89000 presenting two levels is one switch.
  std::vector<detail::PciChainEntry> kept;
  EXPECT_EQ(
      detail::collapse_pci_chain(
          {entry("0000:14:01.0"), entry("0000:15:00.0", 0x1000, 0xc030), entry("0000:16:00.0"),
           entry("0000:17:00.0", 0x1000, 0xc030), entry("0000:18:00.0"), entry("0000:1b:00.0")},
          &kept),
      (V{"0000:15:00.0", "0000:1b:00.0"}));
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].device, 0xc030);
  EXPECT_TRUE(detail::collapse_pci_chain({}).empty());
}

TEST(TopoDiscover, ReadSysfs) {
  EXPECT_FALSE(detail::read_sysfs("/nonexistent/file").has_value());
  auto online = detail::read_sysfs("/sys/devices/system/cpu/online");
  if (online) {
    EXPECT_FALSE(detail::parse_cpu_list(*online).empty());
  }
}

}  // namespace
}  // namespace tdm::topo
