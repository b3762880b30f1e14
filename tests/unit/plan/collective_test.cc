// The facts table (plan/collective.h) against NCCL's documented buffer
// shapes and nccl-tests' bus-bandwidth factors, written out independently.
#include "plan/collective.h"

#include <gtest/gtest.h>

#include <string>

namespace tdm::plan {
namespace {

TEST(CallFacts, NamesAndArgumentsAsNccl) {
  struct Row {
    CallKind kind;
    const char* name;
    bool reduces, rooted, p2p;
  };
  const Row rows[] = {
      {CallKind::kAllReduce, "AllReduce", true, false, false},
      {CallKind::kBroadcast, "Broadcast", false, true, false},
      {CallKind::kReduce, "Reduce", true, true, false},
      {CallKind::kAllGather, "AllGather", false, false, false},
      {CallKind::kReduceScatter, "ReduceScatter", true, false, false},
      {CallKind::kAlltoAll, "AlltoAll", false, false, false},
      {CallKind::kGather, "Gather", false, true, false},
      {CallKind::kScatter, "Scatter", false, true, false},
      {CallKind::kSend, "Send", false, false, true},
      {CallKind::kRecv, "Recv", false, false, true},
  };
  ASSERT_EQ(std::size(rows), size_t(kNumCallKinds));
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(facts(row.kind).kind, row.kind);
    EXPECT_EQ(std::string(call_name(row.kind)), row.name);
    EXPECT_EQ(facts(row.kind).reduces, row.reduces);
    EXPECT_EQ(facts(row.kind).rooted, row.rooted);
    EXPECT_EQ(facts(row.kind).point_to_point, row.p2p);
  }
}

TEST(BlockCount, EveryBlocksValueAtRootAndElsewhere) {
  for (int n : {1, 2, 3, 8}) {
    SCOPED_TRACE(n);
    for (bool root : {true, false}) {
      EXPECT_EQ(block_count(Blocks::kNone, n, root), 0u);
      EXPECT_EQ(block_count(Blocks::kOne, n, root), 1u);
      EXPECT_EQ(block_count(Blocks::kRanks, n, root), size_t(n));
    }
    EXPECT_EQ(block_count(Blocks::kOneAtRoot, n, true), 1u);
    EXPECT_EQ(block_count(Blocks::kOneAtRoot, n, false), 0u);
    EXPECT_EQ(block_count(Blocks::kRanksAtRoot, n, true), size_t(n));
    EXPECT_EQ(block_count(Blocks::kRanksAtRoot, n, false), 0u);
  }
}

// Elements of count each call's send and receive buffers span, as NCCL's
// documentation gives them (n ranks; root or not).
TEST(BlockCount, BufferSizesOfEveryCallAsNcclDocumentsThem) {
  const int n = 4;
  struct Row {
    CallKind kind;
    size_t send_root, send_other, recv_root, recv_other;
  };
  const Row rows[] = {
      {CallKind::kAllReduce, 1, 1, 1, 1},     {CallKind::kBroadcast, 1, 0, 1, 1},
      {CallKind::kReduce, 1, 1, 1, 0},        {CallKind::kAllGather, 1, 1, n, n},
      {CallKind::kReduceScatter, n, n, 1, 1}, {CallKind::kAlltoAll, n, n, n, n},
      {CallKind::kGather, 1, 1, n, 0},        {CallKind::kScatter, n, 0, 1, 1},
      {CallKind::kSend, 1, 1, 0, 0},          {CallKind::kRecv, 0, 0, 1, 1},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(call_name(row.kind));
    EXPECT_EQ(block_count(facts(row.kind).send, n, true), row.send_root);
    EXPECT_EQ(block_count(facts(row.kind).send, n, false), row.send_other);
    EXPECT_EQ(block_count(facts(row.kind).recv, n, true), row.recv_root);
    EXPECT_EQ(block_count(facts(row.kind).recv, n, false), row.recv_other);
  }
}

TEST(InPlaceRules, AsNcclAllowsThem) {
  EXPECT_EQ(facts(CallKind::kAllReduce).in_place, InPlace::kSameBuffer);
  EXPECT_EQ(facts(CallKind::kBroadcast).in_place, InPlace::kSameBuffer);
  EXPECT_EQ(facts(CallKind::kReduce).in_place, InPlace::kSameBuffer);
  EXPECT_EQ(facts(CallKind::kAlltoAll).in_place, InPlace::kSameBuffer);
  // sendbuff == recvbuff + rank * count
  EXPECT_EQ(facts(CallKind::kAllGather).in_place, InPlace::kSendIsOwnRecvBlock);
  EXPECT_EQ(facts(CallKind::kGather).in_place, InPlace::kSendIsOwnRecvBlock);
  // recvbuff == sendbuff + rank * count
  EXPECT_EQ(facts(CallKind::kReduceScatter).in_place, InPlace::kRecvIsOwnSendBlock);
  EXPECT_EQ(facts(CallKind::kScatter).in_place, InPlace::kRecvIsOwnSendBlock);
  EXPECT_EQ(facts(CallKind::kSend).in_place, InPlace::kNever);
  EXPECT_EQ(facts(CallKind::kRecv).in_place, InPlace::kNever);
}

// nccl-tests (src/*.cu, getBw): allreduce 2(n-1)/n; allgather, reduce-scatter,
// alltoall (n-1)/n; broadcast, reduce 1.
TEST(BusFactor, AsNcclTestsDefinesIt) {
  for (int n : {1, 2, 3, 4, 8}) {
    SCOPED_TRACE(n);
    const double d = n;
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kAllReduce, n), 2.0 * (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kAllGather, n), (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kReduceScatter, n), (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kAlltoAll, n), (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kGather, n), (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kScatter, n), (d - 1) / d);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kBroadcast, n), 1.0);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kReduce, n), 1.0);
    EXPECT_DOUBLE_EQ(bus_factor(CallKind::kSend, n), 1.0);
  }
  EXPECT_DOUBLE_EQ(bus_factor(CallKind::kAllReduce, 8), 1.75);
  EXPECT_DOUBLE_EQ(bus_factor(CallKind::kAllGather, 4), 0.75);
}

}  // namespace
}  // namespace tdm::plan
