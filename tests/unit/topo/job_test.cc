// The job view: rank placement, rank-to-rank paths, transport choice, ring order
// and NIC per rank, on one host, on two hosts and with ranks that have no GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/error.h"

namespace tdm::topo {
namespace {

std::string fixture(const char* name) {
  return (std::filesystem::path(TANDEM_TOPO_FIXTURES) / name).string();
}

HostTopology host(const char* file, const char* hostname) {
  HostTopology h = load_xml(fixture(file));
  h.hostname = hostname;
  return h;
}

// One rank per GPU, rank r on GPU gpus[r].
std::vector<RankPlacement> on_gpus(int host_index, const std::vector<int>& gpus) {
  std::vector<RankPlacement> out;
  for (int g : gpus) out.push_back({host_index, g, -1});
  return out;
}

std::vector<RankPlacement> concat(std::vector<RankPlacement> a,
                                  const std::vector<RankPlacement>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool is_permutation_of_ranks(const std::vector<int>& order, int n) {
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < n; ++i)
    if (sorted.size() != static_cast<size_t>(n) || sorted[static_cast<size_t>(i)] != i)
      return false;
  return true;
}

// Slowest hop around the ring.
double ring_min_bw(const JobTopology& job, const std::vector<int>& order) {
  double m = 1e300;
  for (size_t i = 0; i < order.size(); ++i)
    m = std::min(m, job.path(order[i], order[(i + 1) % order.size()]).bw_GBps);
  return m;
}

int ring_hops_of_class(const JobTopology& job, const std::vector<int>& order, PathClass c) {
  int n = 0;
  for (size_t i = 0; i < order.size(); ++i)
    if (job.path(order[i], order[(i + 1) % order.size()]).cls == c) ++n;
  return n;
}

TEST(TopoJob, BuildValidatesPlacements) {
  auto expect_bad = [](std::vector<RankPlacement> ranks, const char* fragment) {
    try {
      build({host("pcie_2socket_4gpu.xml", "a")}, std::move(ranks));
      ADD_FAILURE() << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), tdmInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_bad({{0, 0, -1}, {1, 0, -1}}, "rank 1 is on host 1 but there are 1 hosts");
  expect_bad({{0, 4, -1}}, "rank 0 uses GPU 4 but host 0 (a) has 4 GPUs");
  expect_bad({{0, -1, 7}}, "rank 0 runs on NUMA node 7");
  expect_bad({{-1, 0, -1}}, "rank 0 is on host -1");
  JobTopology empty = build({host("pcie_2socket_4gpu.xml", "a")}, {});
  EXPECT_EQ(empty.nranks(), 0);
  EXPECT_EQ(empty.nhosts(), 1);
  EXPECT_TRUE(ring_order(empty).empty());
}

TEST(TopoJob, GpuRanksTakeTheirGpusNumaNode) {
  JobTopology job = build({host("pcie_2socket_4gpu.xml", "a")}, on_gpus(0, {0, 2}));
  EXPECT_EQ(job.placement(0).numa, 0);
  EXPECT_EQ(job.placement(1).numa, 1);
  EXPECT_EQ(job.ranks_on_host(0), (std::vector<int>{0, 1}));
}

TEST(TopoJob, DgxH100SingleHost) {
  JobTopology job = build({host("dgx_h100.xml", "dgx")}, on_gpus(0, {0, 1, 2, 3, 4, 5, 6, 7}));
  for (int a = 0; a < 8; ++a) {
    EXPECT_EQ(job.nic(a), a);
    EXPECT_EQ(job.path(a, a).cls, PathClass::kLOC);
    for (int b = 0; b < 8; ++b) {
      if (a == b) continue;
      EXPECT_EQ(job.path(a, b).cls, PathClass::kNVL);
      EXPECT_EQ(choose_transport(job, a, b, PathClass::kPXB), TransportKind::kP2P);
      EXPECT_EQ(choose_transport(job, a, b, PathClass::kNVL), TransportKind::kP2P);
      EXPECT_EQ(choose_transport(job, a, b, PathClass::kLOC), TransportKind::kShm);
    }
  }
  EXPECT_EQ(ring_order(job), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(TopoJob, PcieBoxTransportFollowsP2pLevel) {
  JobTopology job = build({host("pcie_2socket_4gpu.xml", "box")}, on_gpus(0, {0, 1, 2, 3}));
  auto t = [&](int a, int b, PathClass level) { return choose_transport(job, a, b, level); };
  // Default PXB: P2P under switches, host memory through the CPUs.
  EXPECT_EQ(t(0, 1, PathClass::kPXB), TransportKind::kP2P);  // PIX
  EXPECT_EQ(t(2, 3, PathClass::kPXB), TransportKind::kP2P);  // PXB
  EXPECT_EQ(t(0, 2, PathClass::kPXB), TransportKind::kShm);  // SYS
  EXPECT_EQ(t(1, 3, PathClass::kPXB), TransportKind::kShm);
  EXPECT_EQ(t(2, 3, PathClass::kPIX), TransportKind::kShm);
  EXPECT_EQ(t(0, 1, PathClass::kPIX), TransportKind::kP2P);
  EXPECT_EQ(t(0, 1, PathClass::kNVL), TransportKind::kShm);  // no NVLink here
  EXPECT_EQ(t(0, 2, PathClass::kPHB), TransportKind::kShm);
  EXPECT_EQ(t(0, 2, PathClass::kSYS), TransportKind::kP2P);
  EXPECT_EQ(t(0, 2, parse_p2p_level("4")), TransportKind::kP2P);
  EXPECT_EQ(job.nic(0), 0);
  EXPECT_EQ(job.nic(1), 0);
  EXPECT_EQ(job.nic(2), 1);
  EXPECT_EQ(job.nic(3), 1);
}

TEST(TopoJob, RefusedP2pFallsBackToShm) {
  HostTopology h = host("pcie_2socket_4gpu.xml", "box");
  h.gpus[0].no_p2p = {1};
  JobTopology job = build({h}, on_gpus(0, {0, 1}));
  EXPECT_EQ(job.path(0, 1).cls, PathClass::kPIX);
  EXPECT_EQ(choose_transport(job, 0, 1, PathClass::kSYS), TransportKind::kShm);
}

TEST(TopoJob, PcieBoxRingCrossesSocketsTwice) {
  // Ranks alternate between the sockets; the ring regroups them.
  JobTopology job = build({host("pcie_2socket_4gpu.xml", "box")}, on_gpus(0, {0, 2, 1, 3}));
  std::vector<int> ring = ring_order(job);
  EXPECT_EQ(ring, (std::vector<int>{0, 2, 1, 3}));
  EXPECT_EQ(ring_hops_of_class(job, ring, PathClass::kSYS), 2);
  // The identity order would cross four times.
  EXPECT_EQ(ring_hops_of_class(job, {0, 1, 2, 3}, PathClass::kSYS), 4);
}

TEST(TopoJob, Dgx1RingFollowsDoubleNvlinks) {
  JobTopology job = build({host("dgx1_v100.xml", "dgx1")}, on_gpus(0, {0, 1, 2, 3, 4, 5, 6, 7}));
  std::vector<int> ring = ring_order(job);
  // The only ring of NV2 bonds in the hybrid cube-mesh.
  EXPECT_EQ(ring, (std::vector<int>{0, 3, 2, 1, 5, 6, 7, 4}));
  EXPECT_DOUBLE_EQ(ring_min_bw(job, ring), 50.0);
  EXPECT_LT(ring_min_bw(job, {0, 1, 2, 3, 4, 5, 6, 7}), 50.0);

  // Scrambled rank-to-GPU mapping: still a ring of NV2 bonds.
  std::vector<int> gpus = {5, 0, 7, 2, 4, 1, 6, 3};
  JobTopology scrambled = build({host("dgx1_v100.xml", "dgx1")}, on_gpus(0, gpus));
  std::vector<int> r2 = ring_order(scrambled);
  ASSERT_TRUE(is_permutation_of_ranks(r2, 8));
  EXPECT_EQ(r2[0], 0);
  EXPECT_DOUBLE_EQ(ring_min_bw(scrambled, r2), 50.0);
  // NVB between GPUs 0 and 5 counts as P2P at the default level.
  EXPECT_EQ(scrambled.path(0, 1).cls, PathClass::kNVB);
  EXPECT_EQ(choose_transport(scrambled, 0, 1, PathClass::kPXB), TransportKind::kP2P);
  EXPECT_EQ(choose_transport(scrambled, 0, 1, PathClass::kNVL), TransportKind::kShm);
}

TEST(TopoJob, TwoDgxHosts) {
  JobTopology job =
      build({host("dgx_h100.xml", "n0"), host("dgx_h100.xml", "n1")},
            concat(on_gpus(0, {0, 1, 2, 3, 4, 5, 6, 7}), on_gpus(1, {0, 1, 2, 3, 4, 5, 6, 7})));
  EXPECT_EQ(job.nranks(), 16);
  PathInfo p = job.path(0, 8);
  EXPECT_EQ(p.cls, PathClass::kNET);
  EXPECT_DOUBLE_EQ(p.bw_GBps, 50.0);  // 400 Gb/s on both ends, GPU and NIC on one switch
  EXPECT_GT(p.latency_us, job.path(0, 1).latency_us);
  EXPECT_EQ(choose_transport(job, 0, 8, PathClass::kSYS), TransportKind::kNet);
  EXPECT_EQ(choose_transport(job, 0, 7, PathClass::kPXB), TransportKind::kP2P);
  EXPECT_EQ(job.nic(13), 5);
  std::vector<int> ring = ring_order(job);
  std::vector<int> want(16);
  for (int i = 0; i < 16; ++i) want[static_cast<size_t>(i)] = i;
  EXPECT_EQ(ring, want);
}

TEST(TopoJob, InterleavedHostsAreContiguousInTheRing) {
  // Rank r on host r % 2 (round-robin launchers do this).
  std::vector<RankPlacement> ranks;
  for (int r = 0; r < 8; ++r) ranks.push_back({r % 2, r / 2, -1});
  JobTopology job =
      build({host("pcie_2socket_4gpu.xml", "a"), host("pcie_2socket_4gpu.xml", "b")}, ranks);
  std::vector<int> ring = ring_order(job);
  ASSERT_TRUE(is_permutation_of_ranks(ring, 8));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ring[static_cast<size_t>(i)] % 2, 0) << i;
    EXPECT_EQ(ring[static_cast<size_t>(i + 4)] % 2, 1) << i;
  }
  EXPECT_EQ(ring[0], 0);
  // Inside each host the path leaves through one socket change only: the ring's
  // slowest hop (SYS) was cut where the ring goes to the other host.
  int sys_inside = 0;
  for (int i = 0; i < 7; ++i)
    if (i != 3 && job.path(ring[static_cast<size_t>(i)], ring[static_cast<size_t>(i + 1)]).cls ==
                      PathClass::kSYS)
      ++sys_inside;
  EXPECT_EQ(sys_inside, 2);
  EXPECT_EQ(job.path(ring[3], ring[4]).cls, PathClass::kNET);
}

TEST(TopoJob, RanksWithoutGpu) {
  // Two ranks per NUMA node on a CPU-only host.
  JobTopology job =
      build({host("cpu_only.xml", "c")}, {{0, -1, 0}, {0, -1, 1}, {0, -1, 0}, {0, -1, 1}});
  EXPECT_EQ(job.path(0, 2).cls, PathClass::kPHB);
  EXPECT_EQ(job.path(0, 1).cls, PathClass::kSYS);
  EXPECT_DOUBLE_EQ(job.path(0, 2).bw_GBps, detail::kShmBw);
  for (PathClass level : {PathClass::kLOC, PathClass::kSYS}) {
    EXPECT_EQ(choose_transport(job, 0, 2, level), TransportKind::kShm);
    EXPECT_EQ(choose_transport(job, 0, 1, level), TransportKind::kShm);
  }
  std::vector<int> ring = ring_order(job);
  EXPECT_EQ(ring, (std::vector<int>{0, 2, 1, 3}));
  EXPECT_EQ(ring_hops_of_class(job, ring, PathClass::kSYS), 2);
  for (int r = 0; r < 4; ++r) EXPECT_EQ(job.nic(r), 0);
}

TEST(TopoJob, CpuRankOfUnknownNumaNode) {
  JobTopology job = build({host("cpu_only.xml", "c")}, {{0, -1, -1}, {0, -1, 0}});
  EXPECT_EQ(job.placement(0).numa, -1);
  EXPECT_EQ(job.path(0, 1).cls, PathClass::kSYS);  // assume the far node
  EXPECT_EQ(choose_transport(job, 0, 1, PathClass::kSYS), TransportKind::kShm);
  // On a single-node host the node is known.
  HostTopology one = from_xml_string(R"(<system version="1"><cpu numaid="4"/></system>)");
  JobTopology j1 = build({one}, {{0, -1, -1}, {0, -1, -1}});
  EXPECT_EQ(j1.placement(0).numa, 4);
  EXPECT_EQ(j1.path(0, 1).cls, PathClass::kPHB);
  EXPECT_EQ(j1.nic(0), -1);
}

TEST(TopoJob, MixedGpuAndCpuHosts) {
  // Host 0: PCIe box with 4 GPU ranks and one CPU rank; host 1: CPU-only with two ranks.
  std::vector<RankPlacement> ranks = on_gpus(0, {0, 1, 2, 3});
  ranks.push_back({0, -1, 1});
  ranks.push_back({1, -1, 0});
  ranks.push_back({1, -1, 1});
  JobTopology job =
      build({host("pcie_2socket_4gpu.xml", "gpu"), host("cpu_only.xml", "cpu")}, ranks);
  // GPU rank and CPU rank on one host: through host memory.
  EXPECT_EQ(job.path(2, 4).cls, PathClass::kPHB);
  EXPECT_EQ(job.path(0, 4).cls, PathClass::kSYS);
  EXPECT_EQ(choose_transport(job, 2, 4, PathClass::kSYS), TransportKind::kShm);
  // Across hosts: the slower side bounds it. CPU rank 5 (NUMA 0) reaches the NIC on
  // NUMA 1 across UPI, then the 100 Gb/s port.
  PathInfo net = job.path(0, 5);
  EXPECT_EQ(net.cls, PathClass::kNET);
  EXPECT_DOUBLE_EQ(net.bw_GBps, 12.5);
  EXPECT_EQ(choose_transport(job, 0, 5, PathClass::kSYS), TransportKind::kNet);
  EXPECT_EQ(job.nic(4), 1);
  EXPECT_EQ(job.nic(5), 0);
  std::vector<int> ring = ring_order(job);
  ASSERT_TRUE(is_permutation_of_ranks(ring, 7));
  std::set<int> first(ring.begin(), ring.begin() + 5);
  EXPECT_EQ(first, (std::set<int>{0, 1, 2, 3, 4}));
}

TEST(TopoJob, HostWithoutNics) {
  HostTopology bare = from_xml_string(R"(<system version="1"><cpu numaid="0">
    <pci busid="0000:01:00.0" class="0x030200"><gpu dev="0" sm="90"/></pci></cpu></system>)");
  JobTopology job = build({bare, bare}, {{0, 0, -1}, {1, 0, -1}});
  EXPECT_EQ(job.nic(0), -1);
  PathInfo p = job.path(0, 1);
  EXPECT_EQ(p.cls, PathClass::kNET);
  EXPECT_DOUBLE_EQ(p.bw_GBps, detail::kUnknownNetBw);
}

TEST(TopoJob, TwoRanksOnOneGpu) {
  JobTopology job = build({host("pcie_2socket_4gpu.xml", "box")}, on_gpus(0, {0, 2, 0, 2}));
  EXPECT_EQ(job.path(0, 2).cls, PathClass::kLOC);
  EXPECT_EQ(choose_transport(job, 0, 2, PathClass::kLOC), TransportKind::kP2P);
  std::vector<int> ring = ring_order(job);
  EXPECT_EQ(ring, (std::vector<int>{0, 2, 1, 3}));
}

TEST(TopoJob, LargeHostUsesLocalityOrder) {
  // 24 ranks over the 8 GPUs of a DGX-1: the search runs 2-opt from the locality order.
  std::vector<RankPlacement> ranks;
  for (int r = 0; r < 24; ++r) ranks.push_back({0, (r * 5) % 8, -1});
  JobTopology job = build({host("dgx1_v100.xml", "dgx1")}, ranks);
  std::vector<int> ring = ring_order(job);
  ASSERT_TRUE(is_permutation_of_ranks(ring, 24));
  EXPECT_EQ(ring[0], 0);
  // Ranks sharing a GPU are adjacent, and the GPUs follow the NV2 bonds.
  EXPECT_EQ(ring_hops_of_class(job, ring, PathClass::kLOC), 16);
  EXPECT_DOUBLE_EQ(ring_min_bw(job, ring), 50.0);
  EXPECT_EQ(ring_hops_of_class(job, ring, PathClass::kNVB), 0);
  // Deterministic.
  EXPECT_EQ(ring, ring_order(job));
  // 100 CPU ranks: locality order only, grouped by NUMA node.
  std::vector<RankPlacement> cpu_ranks;
  for (int r = 0; r < 100; ++r) cpu_ranks.push_back({0, -1, r % 2});
  JobTopology big = build({host("cpu_only.xml", "c")}, cpu_ranks);
  std::vector<int> r2 = ring_order(big);
  ASSERT_TRUE(is_permutation_of_ranks(r2, 100));
  EXPECT_EQ(ring_hops_of_class(big, r2, PathClass::kSYS), 2);
}

}  // namespace
}  // namespace tdm::topo
