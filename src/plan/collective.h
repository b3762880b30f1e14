// The calls Tandem runs and the facts about each, in one table that argument
// validation (src/api), both engines and the perf tools read. Plain C++17:
// nvcc compiles it for the kernels.
#pragma once

#include <cstddef>

namespace tdm::plan {

enum class CallKind : int {
  kAllReduce,
  kBroadcast,
  kReduce,
  kAllGather,
  kReduceScatter,
  kAlltoAll,
  kGather,
  kScatter,
  kSend,
  kRecv,
};
inline constexpr int kNumCallKinds = 10;

// How many `count`-element blocks one buffer spans on one rank.
enum class Blocks : unsigned char {
  kNone,         // the buffer is not used
  kOne,          // one block on every rank
  kOneAtRoot,    // one block on the root, unused elsewhere
  kRanks,        // nranks blocks on every rank
  kRanksAtRoot,  // nranks blocks on the root, unused elsewhere
};

// The in-place form NCCL allows (any other overlap of the buffers is refused).
enum class InPlace : unsigned char {
  kNever,               // send/recv: one buffer only
  kSameBuffer,          // sendbuff == recvbuff
  kSendIsOwnRecvBlock,  // sendbuff == recvbuff + rank * block (allgather, gather)
  kRecvIsOwnSendBlock,  // recvbuff == sendbuff + rank * block (reduce-scatter, scatter)
};

// nccl-tests' factor from algorithm bandwidth to bus bandwidth.
enum class BusFactor : unsigned char {
  kOne,                // busbw = algbw
  kRanksMinusOne,      // busbw = algbw * (n - 1) / n
  kTwiceRanksMinusOne  // busbw = algbw * 2 (n - 1) / n
};

struct CallFacts {
  CallKind kind;
  const char* name;     // as in NCCL's function names, without the prefix
  bool reduces;         // takes a reduction op
  bool rooted;          // takes a root rank
  bool point_to_point;  // takes a peer rank
  Blocks send;
  Blocks recv;
  InPlace in_place;
  BusFactor bus;
};

inline constexpr CallFacts kCallFacts[kNumCallKinds] = {
    {CallKind::kAllReduce, "AllReduce", true, false, false, Blocks::kOne, Blocks::kOne,
     InPlace::kSameBuffer, BusFactor::kTwiceRanksMinusOne},
    {CallKind::kBroadcast, "Broadcast", false, true, false, Blocks::kOneAtRoot, Blocks::kOne,
     InPlace::kSameBuffer, BusFactor::kOne},
    {CallKind::kReduce, "Reduce", true, true, false, Blocks::kOne, Blocks::kOneAtRoot,
     InPlace::kSameBuffer, BusFactor::kOne},
    {CallKind::kAllGather, "AllGather", false, false, false, Blocks::kOne, Blocks::kRanks,
     InPlace::kSendIsOwnRecvBlock, BusFactor::kRanksMinusOne},
    {CallKind::kReduceScatter, "ReduceScatter", true, false, false, Blocks::kRanks, Blocks::kOne,
     InPlace::kRecvIsOwnSendBlock, BusFactor::kRanksMinusOne},
    {CallKind::kAlltoAll, "AlltoAll", false, false, false, Blocks::kRanks, Blocks::kRanks,
     InPlace::kSameBuffer, BusFactor::kRanksMinusOne},
    {CallKind::kGather, "Gather", false, true, false, Blocks::kOne, Blocks::kRanksAtRoot,
     InPlace::kSendIsOwnRecvBlock, BusFactor::kRanksMinusOne},
    {CallKind::kScatter, "Scatter", false, true, false, Blocks::kRanksAtRoot, Blocks::kOne,
     InPlace::kRecvIsOwnSendBlock, BusFactor::kRanksMinusOne},
    {CallKind::kSend, "Send", false, false, true, Blocks::kOne, Blocks::kNone, InPlace::kNever,
     BusFactor::kOne},
    {CallKind::kRecv, "Recv", false, false, true, Blocks::kNone, Blocks::kOne, InPlace::kNever,
     BusFactor::kOne},
};

constexpr bool facts_in_kind_order() {
  for (int i = 0; i < kNumCallKinds; ++i)
    if (static_cast<int>(kCallFacts[i].kind) != i) return false;
  return true;
}
static_assert(facts_in_kind_order(), "kCallFacts must list the kinds in CallKind order");

constexpr const CallFacts& facts(CallKind kind) { return kCallFacts[static_cast<int>(kind)]; }
constexpr const char* call_name(CallKind kind) { return facts(kind).name; }

// Blocks of `count` elements a buffer spans on a rank.
constexpr size_t block_count(Blocks blocks, int nranks, bool is_root) {
  switch (blocks) {
    case Blocks::kOne:
      return 1;
    case Blocks::kOneAtRoot:
      return is_root ? 1 : 0;
    case Blocks::kRanks:
      return static_cast<size_t>(nranks);
    case Blocks::kRanksAtRoot:
      return is_root ? static_cast<size_t>(nranks) : 0;
    default:
      return 0;
  }
}

// nccl-tests' factor from algorithm bandwidth to bus bandwidth.
constexpr double bus_factor(CallKind kind, int nranks) {
  const double n = nranks;
  switch (facts(kind).bus) {
    case BusFactor::kTwiceRanksMinusOne:
      return 2 * (n - 1) / n;
    case BusFactor::kRanksMinusOne:
      return (n - 1) / n;
    default:
      return 1;
  }
}

}  // namespace tdm::plan
