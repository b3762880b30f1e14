// Path classes, bandwidth estimates and NIC choice inside one host, on the
// topology files in tests/topo.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/error.h"

namespace tdm::topo {
namespace {

std::string fixture(const char* name) {
  return (std::filesystem::path(TANDEM_TOPO_FIXTURES) / name).string();
}

constexpr Endpoint gpu(int i) { return {Endpoint::Kind::kGpu, i}; }
constexpr Endpoint nic(int i) { return {Endpoint::Kind::kNic, i}; }
constexpr Endpoint cpu(int i) { return {Endpoint::Kind::kCpu, i}; }

PathClass cls(const HostTopology& h, Endpoint a, Endpoint b) { return host_path(h, a, b).cls; }

constexpr double kGen5x16 = 32.0 * 16 * 128 / 130 / 8 * 0.8;  // 50.4 GB/s
constexpr double kGen4x16 = 16.0 * 16 * 128 / 130 / 8 * 0.8;  // 25.2 GB/s

TEST(TopoPaths, ClassNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(PathClass::kDIS); ++i) {
    auto c = static_cast<PathClass>(i);
    EXPECT_EQ(path_class_from_string(to_string(c)), c);
  }
  EXPECT_FALSE(path_class_from_string("nvl").has_value());
  EXPECT_LT(PathClass::kNVL, PathClass::kPIX);
  EXPECT_LT(PathClass::kPHB, PathClass::kSYS);
}

TEST(TopoPaths, PcieBandwidthModel) {
  EXPECT_NEAR(detail::pcie_bw("32.0 GT/s PCIe", 16), kGen5x16, 1e-9);
  EXPECT_NEAR(detail::pcie_bw("16 GT/s", 16), kGen4x16, 1e-9);
  EXPECT_NEAR(detail::pcie_bw("8.0 GT/s PCIe", 8), kGen4x16 / 4, 1e-9);
  EXPECT_NEAR(detail::pcie_bw("2.5 GT/s PCIe", 1), 2.5 * 0.8 / 8 * 0.8, 1e-9);  // 8b/10b
  EXPECT_NEAR(detail::pcie_bw("", 0), kGen4x16, 1e-9);                          // unknown: Gen4 x16
  EXPECT_NEAR(detail::pcie_bw("Unknown", 4), kGen4x16 / 4, 1e-9);
}

TEST(TopoPaths, DgxH100AllGpusNvlinkThroughNvSwitch) {
  HostTopology h = load_xml(fixture("dgx_h100.xml"));
  for (int a = 0; a < 8; ++a) {
    EXPECT_EQ(cls(h, gpu(a), gpu(a)), PathClass::kLOC);
    for (int b = 0; b < 8; ++b) {
      if (a == b) continue;
      PathInfo p = host_path(h, gpu(a), gpu(b));
      EXPECT_EQ(p.cls, PathClass::kNVL) << a << "-" << b;
      EXPECT_EQ(p.nvlinks, 18);
      EXPECT_DOUBLE_EQ(p.bw_GBps, 18 * 25.0);
      EXPECT_DOUBLE_EQ(p.latency_us, detail::latency_us(PathClass::kNVL, false));
    }
  }
}

TEST(TopoPaths, DgxH100GpuToNic) {
  HostTopology h = load_xml(fixture("dgx_h100.xml"));
  for (int g = 0; g < 8; ++g) {
    for (int n = 0; n < 8; ++n) {
      PathClass want =
          g == n ? PathClass::kPIX : (g / 4 == n / 4 ? PathClass::kPHB : PathClass::kSYS);
      EXPECT_EQ(cls(h, gpu(g), nic(n)), want) << g << "-" << n;
      EXPECT_EQ(cls(h, nic(n), gpu(g)), want);  // symmetric
    }
  }
  // Bounded by the 400 Gb/s port (50 GB/s) below the Gen5 x16 link, by UPI across sockets.
  EXPECT_DOUBLE_EQ(host_path(h, gpu(0), nic(0)).bw_GBps, 50.0);
  EXPECT_DOUBLE_EQ(host_path(h, gpu(0), nic(1)).bw_GBps, 50.0);
  EXPECT_DOUBLE_EQ(host_path(h, gpu(0), nic(4)).bw_GBps, 16.0);
  EXPECT_EQ(cls(h, nic(0), nic(0)), PathClass::kLOC);
  EXPECT_EQ(cls(h, nic(0), nic(1)), PathClass::kPHB);
  EXPECT_EQ(cls(h, gpu(0), cpu(0)), PathClass::kPHB);
  EXPECT_EQ(cls(h, gpu(0), cpu(1)), PathClass::kSYS);
  EXPECT_NEAR(host_path(h, gpu(0), cpu(0)).bw_GBps, kGen5x16, 1e-9);
}

TEST(TopoPaths, DgxH100NearestNicIsTheOneOnTheSameSwitch) {
  HostTopology h = load_xml(fixture("dgx_h100.xml"));
  for (int g = 0; g < 8; ++g) EXPECT_EQ(nearest_nic(h, g), g);
  EXPECT_THROW(nearest_nic(h, 8), Error);
}

TEST(TopoPaths, PcieBoxClasses) {
  HostTopology h = load_xml(fixture("pcie_2socket_4gpu.xml"));
  EXPECT_EQ(cls(h, gpu(0), gpu(1)), PathClass::kPIX);
  EXPECT_EQ(cls(h, gpu(2), gpu(3)), PathClass::kPXB);
  for (int a : {0, 1})
    for (int b : {2, 3}) EXPECT_EQ(cls(h, gpu(a), gpu(b)), PathClass::kSYS);
  EXPECT_EQ(cls(h, gpu(0), nic(0)), PathClass::kPIX);
  EXPECT_EQ(cls(h, gpu(1), nic(0)), PathClass::kPIX);
  EXPECT_EQ(cls(h, gpu(2), nic(1)), PathClass::kPHB);
  EXPECT_EQ(cls(h, gpu(0), nic(1)), PathClass::kSYS);
  EXPECT_EQ(cls(h, nic(0), nic(1)), PathClass::kSYS);

  EXPECT_NEAR(host_path(h, gpu(0), gpu(1)).bw_GBps, kGen4x16, 1e-9);
  EXPECT_NEAR(host_path(h, gpu(2), gpu(3)).bw_GBps, kGen4x16, 1e-9);
  EXPECT_DOUBLE_EQ(host_path(h, gpu(0), gpu(2)).bw_GBps, 16.0);  // xGMI
  EXPECT_DOUBLE_EQ(host_path(h, gpu(0), nic(0)).bw_GBps, 25.0);  // 200 Gb/s port
  // Latency grows with distance.
  EXPECT_LT(host_path(h, gpu(0), gpu(1)).latency_us, host_path(h, gpu(2), gpu(3)).latency_us);
  EXPECT_LT(host_path(h, gpu(2), gpu(3)).latency_us, host_path(h, gpu(0), gpu(2)).latency_us);
}

TEST(TopoPaths, PcieBoxNearestNic) {
  HostTopology h = load_xml(fixture("pcie_2socket_4gpu.xml"));
  EXPECT_EQ(nearest_nic(h, 0), 0);
  EXPECT_EQ(nearest_nic(h, 1), 0);
  EXPECT_EQ(nearest_nic(h, 2), 1);  // PHB beats SYS
  EXPECT_EQ(nearest_nic(h, 3), 1);
  EXPECT_EQ(nearest_nic_to_cpu(h, 0), 0);
  EXPECT_EQ(nearest_nic_to_cpu(h, 1), 1);
}

TEST(TopoPaths, NearestNicSpreadsGpusOverEquallyNearNics) {
  // A second port on socket 0's NIC: GPU0 and GPU1 are equally near both ports.
  HostTopology h = load_xml(fixture("pcie_2socket_4gpu.xml"));
  Nic port2 = h.nics[0];
  port2.port = 2;
  port2.dev = 2;
  h.nics.push_back(port2);
  EXPECT_EQ(nearest_nic(h, 0), 0);
  EXPECT_EQ(nearest_nic(h, 1), 2);
  EXPECT_EQ(nearest_nic(h, 2), 1);
  EXPECT_EQ(nearest_nic_to_cpu(h, 0, 0), 0);
  EXPECT_EQ(nearest_nic_to_cpu(h, 0, 1), 2);
  // A faster NIC at the same distance wins over the spread.
  h.nics[2].speed_mbps = 400000;
  EXPECT_EQ(nearest_nic(h, 0), 2);
  EXPECT_EQ(nearest_nic(h, 1), 2);
}

TEST(TopoPaths, H200PairNvlinkAcrossSockets) {
  HostTopology h = load_xml(fixture("h200_nv18_pair.xml"));
  PathInfo p = host_path(h, gpu(0), gpu(1));
  EXPECT_EQ(p.cls, PathClass::kNVL);  // the bridge beats the SYS path under it
  EXPECT_EQ(p.nvlinks, 18);
  EXPECT_DOUBLE_EQ(p.bw_GBps, 450.0);
  EXPECT_EQ(cls(h, gpu(0), nic(0)), PathClass::kPHB);
  EXPECT_EQ(cls(h, gpu(1), nic(0)), PathClass::kSYS);
  EXPECT_EQ(nearest_nic(h, 0), 0);
  EXPECT_EQ(nearest_nic(h, 1), 0);  // the only one, even across sockets
}

TEST(TopoPaths, Dgx1HybridCubeMesh) {
  HostTopology h = load_xml(fixture("dgx1_v100.xml"));
  PathInfo nv2 = host_path(h, gpu(0), gpu(3));
  EXPECT_EQ(nv2.cls, PathClass::kNVL);
  EXPECT_EQ(nv2.nvlinks, 2);
  EXPECT_DOUBLE_EQ(nv2.bw_GBps, 50.0);
  PathInfo nv1 = host_path(h, gpu(0), gpu(1));
  EXPECT_EQ(nv1.nvlinks, 1);
  EXPECT_DOUBLE_EQ(nv1.bw_GBps, 25.0);
  // No direct link 0-5: through GPU 1 or 4 over NVLink, not through the CPUs.
  PathInfo nvb = host_path(h, gpu(0), gpu(5));
  EXPECT_EQ(nvb.cls, PathClass::kNVB);
  EXPECT_DOUBLE_EQ(nvb.bw_GBps, 25.0);
  EXPECT_EQ(cls(h, gpu(0), nic(0)), PathClass::kPIX);
  EXPECT_EQ(cls(h, gpu(0), nic(1)), PathClass::kPHB);
  for (int g = 0; g < 8; ++g) EXPECT_EQ(nearest_nic(h, g), g / 2);
}

TEST(TopoPaths, NvbOnlyWhenItBeatsPcie) {
  // GPU0-GPU1 and GPU1-GPU2 joined by one slow link each; GPU0 and GPU2 share a switch.
  HostTopology h = from_xml_string(R"(<system version="1"><cpu numaid="0">
    <pci busid="0000:01:00.0" class="0x060400" link_speed="16.0 GT/s PCIe" link_width="16">
      <pci busid="0000:02:00.0" class="0x030200" link_speed="16.0 GT/s PCIe" link_width="16">
        <gpu dev="0" sm="80" tdm_nvlink_bw="5"><nvlink target="0000:03:00.0" count="1" tclass="0x030200"/></gpu></pci>
      <pci busid="0000:04:00.0" class="0x030200" link_speed="16.0 GT/s PCIe" link_width="16">
        <gpu dev="2" sm="80" tdm_nvlink_bw="5"><nvlink target="0000:03:00.0" count="1" tclass="0x030200"/></gpu></pci>
    </pci>
    <pci busid="0000:03:00.0" class="0x030200"><gpu dev="1" sm="80" tdm_nvlink_bw="5"/></pci>
  </cpu></system>)");
  EXPECT_EQ(cls(h, gpu(0), gpu(2)), PathClass::kPIX);
  // The link listed only by GPU 0 still joins GPU 1 to it.
  EXPECT_EQ(cls(h, gpu(1), gpu(0)), PathClass::kNVL);
  EXPECT_DOUBLE_EQ(host_path(h, gpu(1), gpu(0)).bw_GBps, 5.0);
}

TEST(TopoPaths, NvLinkSumsSaturateInsteadOfOverflowing) {
  // 2049 elements of the largest count (1024) to the peer and to a switch:
  // 2^21 + 1024 links each way, past the 2^20 the sums saturate at.
  std::string links;
  for (int i = 0; i < 2049; ++i)
    links += R"(<nvlink target="0000:03:00.0" count="1024" tclass="0x030200"/>)"
             R"(<nvlink target="0000:05:00.0" count="1024" tclass="0x068000"/>)";
  HostTopology h = from_xml_string(R"(<system version="1"><cpu numaid="0">
    <pci busid="0000:02:00.0" class="0x030200"><gpu dev="0" sm="90">)" +
                                   links + R"(</gpu></pci>
    <pci busid="0000:03:00.0" class="0x030200"><gpu dev="1" sm="90">)" +
                                   links + R"(</gpu></pci>
  </cpu></system>)");
  PathInfo p = host_path(h, gpu(0), gpu(1));
  EXPECT_EQ(p.cls, PathClass::kNVL);
  EXPECT_EQ(p.nvlinks, 2 << 20);  // direct + switch, each saturated at 2^20
  EXPECT_DOUBLE_EQ(p.bw_GBps, double(2 << 20) * 25.0);
  EXPECT_EQ(detail::switch_nvlinks(h.gpus[0]), 1 << 20);
}

TEST(TopoPaths, CpuEndpoints) {
  HostTopology h = load_xml(fixture("cpu_only.xml"));
  PathInfo same = host_path(h, cpu(0), cpu(0));
  EXPECT_EQ(same.cls, PathClass::kPHB);
  EXPECT_DOUBLE_EQ(same.bw_GBps, detail::kShmBw);
  PathInfo cross = host_path(h, cpu(0), cpu(1));
  EXPECT_EQ(cross.cls, PathClass::kSYS);
  EXPECT_GT(cross.latency_us, same.latency_us);
  EXPECT_EQ(cls(h, cpu(1), nic(0)), PathClass::kPHB);
  EXPECT_EQ(cls(h, nic(0), cpu(0)), PathClass::kSYS);
  EXPECT_DOUBLE_EQ(host_path(h, cpu(0), nic(0)).bw_GBps, 12.5);  // the 100 Gb/s port
  EXPECT_EQ(nearest_nic_to_cpu(h, 0), 0);
  EXPECT_THROW(host_path(h, cpu(5), cpu(0)), Error);
}

TEST(TopoPaths, InterconnectBandwidthByCpu) {
  Cpu intel_spr{0, 0, "", "x86_64", "GenuineIntel", 6, 143};
  Cpu intel_bdw{0, 0, "", "x86_64", "GenuineIntel", 6, 79};
  Cpu amd{0, 0, "", "x86_64", "AuthenticAMD", 25, 1};
  Cpu other_socket = intel_spr;
  other_socket.package = 1;
  EXPECT_DOUBLE_EQ(detail::cpu_interconnect_bw(intel_spr, other_socket), 16.0);
  EXPECT_DOUBLE_EQ(detail::cpu_interconnect_bw(intel_spr, intel_spr), 32.0);  // same socket
  Cpu bdw1 = intel_bdw;
  bdw1.package = 1;
  EXPECT_DOUBLE_EQ(detail::cpu_interconnect_bw(intel_bdw, bdw1), 8.0);
  Cpu amd1 = amd;
  amd1.package = -1;
  EXPECT_DOUBLE_EQ(detail::cpu_interconnect_bw(amd, amd1), 16.0);
}

TEST(TopoPaths, P2pLevelParsing) {
  EXPECT_EQ(parse_p2p_level("LOC"), PathClass::kLOC);
  EXPECT_EQ(parse_p2p_level("NVL"), PathClass::kNVL);
  EXPECT_EQ(parse_p2p_level("NVB"), PathClass::kNVB);
  EXPECT_EQ(parse_p2p_level("PIX"), PathClass::kPIX);
  EXPECT_EQ(parse_p2p_level("PXB"), PathClass::kPXB);
  EXPECT_EQ(parse_p2p_level("PHB"), PathClass::kPHB);
  EXPECT_EQ(parse_p2p_level("SYS"), PathClass::kSYS);
  // NCCL's legacy integers.
  EXPECT_EQ(parse_p2p_level("0"), PathClass::kLOC);
  EXPECT_EQ(parse_p2p_level("1"), PathClass::kPIX);
  EXPECT_EQ(parse_p2p_level("2"), PathClass::kPXB);
  EXPECT_EQ(parse_p2p_level("3"), PathClass::kPHB);
  EXPECT_EQ(parse_p2p_level("4"), PathClass::kSYS);
  EXPECT_EQ(parse_p2p_level("9"), PathClass::kSYS);
  for (const char* bad : {"NET", "DIS", "-1", "pxb", "", "2x"}) {
    try {
      parse_p2p_level(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), tdmInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("TANDEM_P2P_LEVEL"), std::string::npos);
    }
  }
  unsetenv("TANDEM_P2P_LEVEL");
  EXPECT_EQ(p2p_level_from_env(), PathClass::kPXB);
  setenv("TANDEM_P2P_LEVEL", "NVL", 1);
  EXPECT_EQ(p2p_level_from_env(), PathClass::kNVL);
  setenv("TANDEM_P2P_LEVEL", "bogus", 1);
  EXPECT_THROW(p2p_level_from_env(), Error);
  unsetenv("TANDEM_P2P_LEVEL");
}

}  // namespace
}  // namespace tdm::topo
