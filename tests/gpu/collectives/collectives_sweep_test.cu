// Every collective x type x op x count x placement x root on the sweeps'
// arena buffers; large counts, count 0, NULL unused buffers, the legacy stream.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// ---- every collective x type x op x count x placement x root ----

constexpr size_t kCounts[] = {1, 1023, 77777};  // one element, odd and small (LL), medium

std::vector<Place> places_of(Coll c) {
  if (p2p(c)) return {Place::kOut};
  if (c == Coll::kBroadcast) return {Place::kOut, Place::kIn, Place::kBcast};
  return {Place::kOut, Place::kIn};
}
std::vector<int> ops_of(Coll c) {
  if (!reduces(c)) return {kNoOp};
  return std::vector<int>(std::begin(kAllOps), std::end(kAllOps));
}
std::vector<int> roots_of(Coll c, int n) {
  std::vector<int> roots{0};
  if (rooted(c))
    for (int r = 1; r < n; ++r) roots.push_back(r);
  return roots;
}

class Sweep : public Collectives,
              public ::testing::WithParamInterface<std::tuple<Coll, tdmDataType_t>> {};

TEST_P(Sweep, OpsCountsPlacementsRoots) {
  const auto [coll, t] = GetParam();
  for (int op : ops_of(coll))
    for (size_t count : kCounts)
      for (Place where : places_of(coll))
        for (int root : roots_of(coll, g_nranks))
          // Unaligned buffers (the engine's byte and 8-byte paths) for sum and moves.
          for (size_t shift : {0, 1}) {
            if (shift && (where != Place::kOut || (op != kNoOp && op != kSum))) continue;
            Case c = make(coll, t, op, count, where, root);
            c.shift = shift;
            run_case(c);
          }
}

INSTANTIATE_TEST_SUITE_P(Device, Sweep,
                         ::testing::Combine(::testing::ValuesIn(kAllColls),
                                            ::testing::ValuesIn(kAllTypes)),
                         [](const ::testing::TestParamInfo<Sweep::ParamType>& p) {
                           return std::string(coll_name(std::get<0>(p.param))) + "_" +
                                  type_name(std::get<1>(p.param));
                         });

// Millions of elements: many slots per channel, every channel busy.
TEST_F(Collectives, LargeCountsPipelined) {
  const size_t big = size_t{3} << 20;
  for (Coll coll : kAllColls) {
    if (coll == Coll::kSelf) continue;
    for (int op : reduces(coll) ? std::vector<int>{kSum, kPremulDevice} : std::vector<int>{kNoOp})
      for (Place where : p2p(coll) ? std::vector<Place>{Place::kOut}
                                   : std::vector<Place>{Place::kOut, Place::kIn})
        run_case(make(coll, tdmFloat32, op, big, where, g_nranks - 1));
  }
  // A narrow type on the vector path of the bandwidth kernels.
  run_case(make(Coll::kAllReduce, tdmBfloat16, kSum, big));
  run_case(make(Coll::kReduceScatter, tdmBfloat16, kAvg, big / 4, Place::kIn));
  // All-to-all blocks past 8 MiB per peer with an odd byte count: every
  // channel's share and the vector path meet a tail.
  run_case(make(Coll::kAlltoAll, tdmUint8, kNoOp, (size_t{8} << 20) + 13));
}

// Count 0 is a no-op (NCCL returns success): nothing may be written.
TEST_F(Collectives, ZeroCountWritesNothing) {
  for (Coll coll : kAllColls)
    for (tdmDataType_t t : kAllTypes)
      for (Place where : places_of(coll)) run_case(make(coll, t, kSum, 0, where, g_nranks - 1));
}

// NCCL ignores the buffers a rank does not use: sendbuff of broadcast and
// scatter, recvbuff of reduce and gather, except on the root.
TEST_F(Collectives, UnusedBuffersMayBeNull) {
  for (Coll coll : {Coll::kBroadcast, Coll::kScatter, Coll::kReduce, Coll::kGather})
    for (tdmDataType_t t : {tdmInt8, tdmFloat32})
      for (size_t count : {size_t{1023}, size_t{77777}})
        for (int root : roots_of(coll, g_nranks)) {
          Case c = make(coll, t, kSum, count, Place::kOut, root);
          c.null_unused = true;
          run_case(c);
        }
}

// NCCL accepts the legacy default stream (NULL) with device buffers.
TEST_F(Collectives, LegacyStream) {
  for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 1023),
                 make(Coll::kAllReduce, tdmInt32, kMax, 77777),
                 make(Coll::kAllGather, tdmUint8, kNoOp, 1023),
                 make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, g_nranks - 1),
                 make(Coll::kRing, tdmFloat16, kNoOp, 1023)}) {
    c.salt = ++g_salt;
    c.stream = nullptr;
    const Bufs b = place(c, arena);
    upload(c, b);
    CUDA_OK(cudaStreamSynchronize(g_stream));  // g_stream does not wait for the legacy stream
    issue_ok(c, b);
    CUDA_OK(cudaDeviceSynchronize());
    verify(c, b);
  }
}

}  // namespace
}  // namespace collectives_gpu_test
