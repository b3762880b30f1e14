// Host descriptions: NCCL topology XML in and out, bootstrap serialization, the
// TANDEM_TOPO_FILE / TANDEM_TOPO_DUMP_FILE knobs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/error.h"

namespace tdm::topo {
namespace {

std::string fixture(const char* name) {
  return (std::filesystem::path(TANDEM_TOPO_FIXTURES) / name).string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TopoHost, LoadsDgxH100) {
  HostTopology h = load_xml(fixture("dgx_h100.xml"));
  ASSERT_EQ(h.cpus.size(), 2u);
  EXPECT_EQ(h.cpus[0].numa_id, 0);
  EXPECT_EQ(h.cpus[0].vendor, "GenuineIntel");
  EXPECT_EQ(h.cpus[0].model_id, 143);
  EXPECT_EQ(h.cpus[0].package, -1);  // NCCL files do not carry sockets
  EXPECT_EQ(detail::cpus_to_list(detail::affinity_to_cpus(h.cpus[0].affinity)), "0-55,112-167");
  EXPECT_EQ(detail::cpus_to_list(detail::affinity_to_cpus(h.cpus[1].affinity)), "56-111,168-223");
  ASSERT_EQ(h.gpus.size(), 8u);
  ASSERT_EQ(h.nics.size(), 8u);
  for (int g = 0; g < 8; ++g) {
    EXPECT_EQ(h.gpus[static_cast<size_t>(g)].dev, g);
    EXPECT_EQ(h.gpus[static_cast<size_t>(g)].sm, 90);
    EXPECT_TRUE(h.gpus[static_cast<size_t>(g)].gdr);
    EXPECT_EQ(h.cpu_of_gpu(g), g < 4 ? 0 : 1);
    ASSERT_EQ(h.gpus[static_cast<size_t>(g)].nvlinks.size(), 4u);
    EXPECT_EQ(h.gpus[static_cast<size_t>(g)].nvlinks[0].target_class, kPciClassNvSwitch);
    EXPECT_EQ(h.nics[static_cast<size_t>(g)].name, "mlx5_" + std::to_string(g));
    EXPECT_EQ(h.nics[static_cast<size_t>(g)].speed_mbps, 400000);
    EXPECT_EQ(h.nics[static_cast<size_t>(g)].maxconn, 131072);
  }
  EXPECT_EQ(h.busid_of_gpu(0), "0000:1b:00.0");
  EXPECT_EQ(h.gpu_by_busid("00000000:1B:00.0"), 0);  // NVML's spelling
  EXPECT_EQ(h.gpu_by_busid("0000:df:00.0"), 7);
  EXPECT_EQ(h.gpu_by_dev(3), 3);
  EXPECT_EQ(h.nics[0].guid, 0xa088c20300f2e0a0ull);
  const PciDevice& sw =
      h.pci[static_cast<size_t>(h.pci[static_cast<size_t>(h.gpus[0].pci)].parent)];
  EXPECT_EQ(sw.busid, "0000:15:00.0");
  EXPECT_EQ(sw.class_code, kPciClassBridge);
  EXPECT_EQ(sw.vendor, 0x1000);
  EXPECT_EQ(sw.device, 0xc030);
  EXPECT_EQ(sw.link_speed, "32.0 GT/s PCIe");
  EXPECT_EQ(sw.link_width, 16);
}

TEST(TopoHost, SortsGpusByCudaOrdinal) {
  // NCCL writes GPUs in PCI order; the model orders them by CUDA device.
  HostTopology h = from_xml_string(R"(<system version="1"><cpu numaid="0">
    <pci busid="0000:01:00.0" class="0x030200"><gpu dev="1" sm="80" rank="0" gdr="0"/></pci>
    <pci busid="0000:02:00.0" class="0x030200"><gpu dev="-1" sm="80"/></pci>
    <pci busid="0000:03:00.0" class="0x030200"><gpu dev="0" sm="80" rank="1" gdr="0"/></pci>
  </cpu></system>)");
  ASSERT_EQ(h.gpus.size(), 3u);
  EXPECT_EQ(h.busid_of_gpu(0), "0000:03:00.0");
  EXPECT_EQ(h.busid_of_gpu(1), "0000:01:00.0");
  EXPECT_EQ(h.busid_of_gpu(2), "0000:02:00.0");
  EXPECT_EQ(h.gpus[2].dev, -1);
}

TEST(TopoHost, ToleratesNcclExtrasAndVirtualNics) {
  // Elements from newer NCCL versions and unknown attributes are skipped.
  HostTopology h = from_xml_string(R"(<system version="1">
    <cpu numaid="3" host_hash="0x1234" arch="arm64">
      <pci busid="0009:01:00.0" class="0x030200" vendor="0x10de" device="0x2342">
        <gpu dev="0" sm="90" rank="0" gdr="1"><c2c bw="375" count="10"/></gpu>
      </pci>
      <nic><net name="eth0" dev="0" speed="25000" port="0" gdr="0" coll="0"/></nic>
    </cpu>
    <pcilink target="0000:00:00.0"/>
  </system>)");
  ASSERT_EQ(h.cpus.size(), 1u);
  EXPECT_EQ(h.cpus[0].numa_id, 3);
  ASSERT_EQ(h.nics.size(), 1u);
  EXPECT_EQ(h.nics[0].pci, -1);
  EXPECT_EQ(h.cpu_of_nic(0), 0);
  EXPECT_EQ(h.gpus[0].nvlinks.size(), 0u);
}

TEST(TopoHost, EmptySystemGetsOneCpu) {
  HostTopology h = from_xml_string("<system version=\"1\"/>");
  ASSERT_EQ(h.cpus.size(), 1u);
  EXPECT_EQ(h.cpus[0].numa_id, 0);
}

void expect_invalid(std::string_view text, std::string_view fragment) {
  try {
    from_xml_string(text, "t.xml");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TopoHost, RejectsBadFiles) {
  expect_invalid("<topology/>", "expected <system>");
  expect_invalid(R"(<system><cpu numaid="zero"/></system>)", "numaid=\"zero\" is not valid");
  expect_invalid(R"(<system><cpu><pci busid="0000:01:00.0" class="0xZZ"/></cpu></system>)",
                 "class=\"0xZZ\"");
  expect_invalid(R"(<system><cpu><pci class="0x030200"/></cpu></system>)", "without busid");
  expect_invalid(R"(<system><cpu><pci busid="1" link_width="16x"/></cpu></system>)", "link_width");
  try {
    load_xml("/nonexistent/topo.xml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/topo.xml"), std::string::npos);
  }
}

TEST(TopoHost, RejectsOutOfRangeNumbersNamingElementAndAttribute) {
  const std::string gpu = R"(<system><cpu><pci busid="0000:01:00.0" class="0x030200">)";
  const std::string end = "</pci></cpu></system>";
  auto nvlink = [&](const char* count) {
    return gpu + R"(<gpu dev="0"><nvlink target="0000:02:00.0" count=")" + count + "\"/></gpu>" +
           end;
  };
  expect_invalid(nvlink("2147483647"),
                 "<nvlink> attribute count=\"2147483647\" is not valid: expected a number from 0 "
                 "to 1024");
  expect_invalid(nvlink("-1"), "<nvlink> attribute count=\"-1\"");
  expect_invalid(nvlink("99999999999"), "count=\"99999999999\"");
  const std::string net = R"(<system><cpu><nic><net name="x" )";
  for (const char* speed : {"1e19", "inf", "nan", "-1", "1e400"})
    expect_invalid(net + "speed=\"" + speed + "\"/></nic></cpu></system>",
                   "<net> attribute speed=\"" + std::string(speed) +
                       "\" is not valid: expected a number from 0 to 1e+09");
  expect_invalid(net + R"(latency="1e7"/></nic></cpu></system>)", "<net> attribute latency");
  expect_invalid(net + R"(gdr="2"/></nic></cpu></system>)", "gdr=\"2\"");
  expect_invalid(gpu + R"(<gpu dev="0" tdm_nvlink_bw="1e7"/>)" + end, "tdm_nvlink_bw=\"1e7\"");
  expect_invalid(gpu + R"(<gpu dev="-2"/>)" + end, "<gpu> attribute dev=\"-2\"");
  expect_invalid(gpu + R"(<gpu dev="0" sm="-90"/>)" + end, "sm=\"-90\"");
  expect_invalid(R"(<system><cpu><pci busid="1" link_width="-16"/></cpu></system>)",
                 "<pci> attribute link_width=\"-16\"");
  expect_invalid(R"(<system><cpu><pci busid="1" class="0x"/></cpu></system>)", "class=\"0x\"");
  expect_invalid(R"(<system><cpu numaid="-2"/></system>)", "<cpu> attribute numaid=\"-2\"");
  // The edges are accepted.
  HostTopology h = from_xml_string(nvlink("1024"), "t.xml");
  EXPECT_EQ(h.gpus[0].nvlinks[0].count, 1024);
  h = from_xml_string(net + R"(speed="1e9" latency="0"/></nic></cpu></system>)", "t.xml");
  EXPECT_EQ(h.nics[0].speed_mbps, 1e9);
}

void expect_same(const HostTopology& a, const HostTopology& b) {
  EXPECT_EQ(to_xml_string(a), to_xml_string(b));
  EXPECT_EQ(a.hostname, b.hostname);
  ASSERT_EQ(a.gpus.size(), b.gpus.size());
  ASSERT_EQ(a.pci.size(), b.pci.size());
  for (size_t i = 0; i < a.gpus.size(); ++i) {
    EXPECT_EQ(a.gpus[i].no_p2p, b.gpus[i].no_p2p);
    EXPECT_EQ(a.gpus[i].nvlink_bw, b.gpus[i].nvlink_bw);
    EXPECT_EQ(a.busid_of_gpu(static_cast<int>(i)), b.busid_of_gpu(static_cast<int>(i)));
  }
  for (size_t i = 0; i < a.nics.size(); ++i) {
    EXPECT_EQ(a.nics[i].link_layer, b.nics[i].link_layer);
    EXPECT_EQ(a.nics[i].guid, b.nics[i].guid);
  }
}

TEST(TopoHost, SaveLoadAndSerializeRoundTripEveryFixture) {
  for (const char* f : {"dgx_h100.xml", "pcie_2socket_4gpu.xml", "h200_nv18_pair.xml",
                        "dgx1_v100.xml", "cpu_only.xml"}) {
    SCOPED_TRACE(f);
    HostTopology h = load_xml(fixture(f));
    h.hostname = "node-a";
    std::string bytes = serialize(h);
    EXPECT_EQ(bytes.find('\n'), std::string::npos);  // compact
    expect_same(h, deserialize(bytes));
    expect_same(h, from_xml_string(to_xml_string(h)));
  }
}

TEST(TopoHost, RoundTripKeepsTandemExtensions) {
  HostTopology h = load_xml(fixture("pcie_2socket_4gpu.xml"));
  h.cpus[0].package = 0;
  h.cpus[1].package = 1;
  h.gpus[0].no_p2p = {2, 3};
  h.gpus[1].nvlink_bw = 12.5;
  h.nics[0].link_layer = "InfiniBand";
  HostTopology back = deserialize(serialize(h));
  EXPECT_EQ(back.cpus[1].package, 1);
  EXPECT_EQ(back.gpus[0].no_p2p, (std::vector<int>{2, 3}));
  EXPECT_EQ(back.gpus[1].nvlink_bw, 12.5);
  EXPECT_EQ(back.nics[0].link_layer, "InfiniBand");
  // The extensions are attributes NCCL ignores.
  std::string text = to_xml_string(h);
  EXPECT_NE(text.find("tdm_nop2p=\"0000:85:00.0 0000:89:00.0\""), std::string::npos);
  EXPECT_NE(text.find("tdm_package=\"1\""), std::string::npos);
}

TEST(TopoHost, WrittenFileLooksLikeNcclDump) {
  HostTopology h = load_xml(fixture("dgx_h100.xml"));
  std::string text = to_xml_string(h);
  EXPECT_TRUE(text.starts_with("<system version=\"1\">\n  <cpu numaid=\"0\" affinity=\""));
  EXPECT_NE(text.find("<net name=\"mlx5_0\" dev=\"0\" speed=\"400000\" port=\"1\" latency=\"0\" "
                      "guid=\"0xa088c20300f2e0a0\" maxconn=\"131072\" gdr=\"1\"/>"),
            std::string::npos);
  EXPECT_NE(text.find("<nvlink target=\"0000:05:00.0\" count=\"5\" tclass=\"0x068000\"/>"),
            std::string::npos);
  EXPECT_NE(text.find("<pci busid=\"0000:1b:00.0\" class=\"0x030200\" vendor=\"0x10de\" "
                      "device=\"0x2330\" subsystem_vendor=\"0x10de\" subsystem_device=\"0x16c1\" "
                      "link_speed=\"32.0 GT/s PCIe\" link_width=\"16\">"),
            std::string::npos);
}

TEST(TopoHost, AffinityHelpers) {
  EXPECT_EQ(detail::cpus_to_affinity({0, 1, 2, 3, 32}), "00000001,0000000f");
  EXPECT_EQ(detail::cpus_to_affinity({0}, 64), "00000000,00000001");
  EXPECT_EQ(detail::affinity_to_cpus("00000001,0000000f"), (std::vector<int>{0, 1, 2, 3, 32}));
  EXPECT_EQ(detail::affinity_to_cpus("0xff"), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(detail::affinity_to_cpus("xyz").empty());
  EXPECT_EQ(detail::cpus_to_list({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(detail::canonical_busid("00000000:1B:00.0"), "0000:1b:00.0");
  EXPECT_EQ(detail::canonical_busid("0001:1B:00.0"), "0001:1b:00.0");
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST(TopoHost, TopoFileAndDumpKnobs) {
  std::string dump =
      ::testing::TempDir() + "/tandem_topo_dump_" + std::to_string(getpid()) + ".xml";
  {
    ScopedEnv file("TANDEM_TOPO_FILE", fixture("h200_nv18_pair.xml"));
    ScopedEnv out("TANDEM_TOPO_DUMP_FILE", dump);
    HostTopology h = local_host();
    EXPECT_EQ(h.gpus.size(), 2u);
    EXPECT_FALSE(h.hostname.empty());  // filled from gethostname()
  }
  EXPECT_TRUE(read_text(dump).starts_with("<system version=\"1\""));
  HostTopology back = load_xml(dump);
  EXPECT_EQ(back.gpus.size(), 2u);
  EXPECT_EQ(back.gpus[0].nvlinks[0].count, 18);
  std::remove(dump.c_str());
  ScopedEnv bad("TANDEM_TOPO_FILE", "/nonexistent/file.xml");
  EXPECT_THROW(local_host(), Error);
}

}  // namespace
}  // namespace tdm::topo
