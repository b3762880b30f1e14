// Sequences of calls: back to back on one stream without synchronization, and
// grouped in one tdmGroupStart/End.
#include "collectives_harness.h"

namespace collectives_gpu_test {

// ---- sequences: back to back, grouped, graphs ----

// Cases over one stream with no synchronization between them: the LL
// buffers' alternation and the channels' counters carry from call to call.
std::vector<Case> mixed_cases() {
  const int last = g_nranks - 1;
  return {
      make(Coll::kAllReduce, tdmFloat32, kSum, 1023),
      make(Coll::kAllReduce, tdmFloat32, kSum, 77777),
      make(Coll::kAllGather, tdmInt8, kNoOp, 1023, Place::kIn),
      make(Coll::kReduceScatter, tdmBfloat16, kPremulDevice, 1023),
      make(Coll::kAllReduce, tdmInt64, kProd, 1),
      make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, last),
      make(Coll::kAlltoAll, tdmUint32, kNoOp, 1023),
      make(Coll::kRing, tdmFloat16, kNoOp, 77777),
      make(Coll::kReduce, tdmFloat8e4m3, kMin, 1023, Place::kOut, last),
      make(Coll::kAllReduce, tdmUint8, kAvg, 77777, Place::kIn),
      make(Coll::kAllPairs, tdmInt32, kNoOp, 1023),
      make(Coll::kGather, tdmFloat8e5m2, kNoOp, 1023, Place::kIn, 0),
      make(Coll::kScatter, tdmUint64, kNoOp, 77777, Place::kOut, last),
      make(Coll::kReduceScatter, tdmFloat32, kMax, 77777, Place::kIn),
      make(Coll::kAlltoAll, tdmFloat16, kNoOp, 77777, Place::kIn),
      make(Coll::kAllReduce, tdmFloat32, kPremulHost, 1023),
  };
}

namespace {

TEST_F(Collectives, BackToBackWithoutSynchronization) {
  std::vector<Case> cases = mixed_cases();
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (const Case& c : cases) bufs.push_back(place(c, mem.alloc()));
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < cases.size(); ++i) {
      cases[i].salt = ++g_salt;
      upload(cases[i], bufs[i]);
    }
    for (size_t i = 0; i < cases.size(); ++i) issue_ok(cases[i], bufs[i]);
    for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
  }
}

// Collectives and send/recv patterns aggregated in one group.
TEST_F(Collectives, GroupedCollectives) {
  std::vector<Case> cases = mixed_cases();
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (Case& c : cases) {
    c.salt = ++g_salt;
    bufs.push_back(place(c, mem.alloc()));
    upload(c, bufs.back());
  }
  TDM_OK(tdmGroupStart());
  for (size_t i = 0; i < cases.size(); ++i) issue_ok(cases[i], bufs[i]);
  TDM_OK(tdmGroupEnd());
  for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
}

}  // namespace
}  // namespace collectives_gpu_test
