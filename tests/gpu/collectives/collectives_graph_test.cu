// Collectives and send/recv captured into a CUDA graph and replayed with new inputs.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// The calls captured into a CUDA graph, launched several times with new
// inputs (and new device premulsum scalars) written between launches.
class Graph : public Collectives, public ::testing::WithParamInterface<tdmDataType_t> {};

TEST_P(Graph, ReplaysWithNewInputs) {
  const tdmDataType_t t = GetParam();
  const int last = g_nranks - 1;
  std::vector<Case> cases = {
      make(Coll::kAllReduce, t, kSum, 1023),
      make(Coll::kAllReduce, t, kPremulDevice, 77777),
      make(Coll::kAllReduce, t, kPremulHost, 1023, Place::kIn),
      make(Coll::kReduceScatter, t, kMax, 1023, Place::kIn),
      make(Coll::kReduceScatter, t, kAvg, 77777),
      make(Coll::kAllGather, t, kNoOp, 77777),
      make(Coll::kAllGather, t, kNoOp, 1023, Place::kIn),
      make(Coll::kBroadcast, t, kNoOp, 1023, Place::kOut, 1 % g_nranks),
      make(Coll::kReduce, t, kMin, 77777, Place::kOut, last),
      make(Coll::kAlltoAll, t, kNoOp, 1023, Place::kIn),
      make(Coll::kGather, t, kNoOp, 1023, Place::kOut, 0),
      make(Coll::kScatter, t, kNoOp, 77777, Place::kOut, last),
      make(Coll::kRing, t, kNoOp, 1023),
      make(Coll::kAllPairs, t, kNoOp, 77777),
      make(Coll::kSelf, t, kNoOp, 1023),
  };
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (const Case& c : cases) bufs.push_back(place(c, mem.alloc()));
  CUDA_OK(cudaStreamSynchronize(g_stream));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool captured = CUDA_OK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeGlobal));
  if (captured) {
    for (size_t i = 0; i < cases.size(); ++i) captured &= issue_ok(cases[i], bufs[i]);
    captured &= CUDA_OK(cudaStreamEndCapture(g_stream, &graph));
  }
  captured = captured && CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  // Launch only where every rank has a graph (a lone launch would wait forever).
  if (all_agree(captured)) {
    for (uint64_t launch = 0; launch < 4; ++launch) {
      for (size_t i = 0; i < cases.size(); ++i) {
        cases[i].salt = ++g_salt;
        if (cases[i].op == kPremulDevice) cases[i].scalar_salt = launch;  // read at run time
        upload(cases[i], bufs[i]);
      }
      CUDA_OK(cudaGraphLaunch(exec, g_stream));
      for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
    }
  }
  if (exec) CUDA_OK(cudaGraphExecDestroy(exec));
  if (graph) CUDA_OK(cudaGraphDestroy(graph));
}

INSTANTIATE_TEST_SUITE_P(Device, Graph,
                         ::testing::Values(tdmFloat32, tdmBfloat16, tdmInt32, tdmFloat8e4m3),
                         [](const ::testing::TestParamInfo<tdmDataType_t>& p) {
                           return std::string(type_name(p.param));
                         });

}  // namespace
}  // namespace collectives_gpu_test
