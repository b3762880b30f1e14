// Collectives and send/recv captured into a CUDA graph and replayed with new inputs.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// Captures the cases' calls into one CUDA graph, then launches it `launches`
// times with new inputs (and new device premulsum scalars, read at run time)
// uploaded before each launch and every output checked after it.
void capture_and_replay(std::vector<Case>& cases, const std::vector<Bufs>& bufs, int launches) {
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
    for (int launch = 0; launch < launches; ++launch) {
      for (size_t i = 0; i < cases.size(); ++i) {
        cases[i].salt = ++g_salt;
        if (cases[i].op == kPremulDevice) cases[i].scalar_salt = launch;
        upload(cases[i], bufs[i]);
      }
      CUDA_OK(cudaGraphLaunch(exec, g_stream));
      for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
    }
  }
  if (exec) CUDA_OK(cudaGraphExecDestroy(exec));
  if (graph) CUDA_OK(cudaGraphDestroy(graph));
}

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
  capture_and_replay(cases, bufs, 4);
}

// All-to-all blocks from TANDEM_CUDA_DIRECT_MIN_BYTES (8 MiB) per peer go
// straight into the peers' receive buffers when captured; in place they take
// the pipelined kernel. Two graphs over the same buffers: the second finds
// every rank's buffer already mapped. Sizes that are not whole chunks give
// every copy a tail; an odd block takes the pipelined kernel. cudaMalloc
// buffers (CUDA IPC) and tdmMemAlloc ones (cuMem FDs); they outlive the
// communicator (mapped by the peers until it goes, docs/design-cuda-engine.md).
class DirectAllToAll : public Collectives, public ::testing::WithParamInterface<bool> {};

TEST_P(DirectAllToAll, InGraphs) {
  std::vector<Case> cases = {
      make(Coll::kAlltoAll, tdmUint8, kNoOp, (size_t{8} << 20) + 16 * 13),
      make(Coll::kAlltoAll, tdmFloat32, kNoOp, (size_t{3} << 20) + 4),
      make(Coll::kAlltoAll, tdmUint8, kNoOp, (size_t{8} << 20) + 13),  // odd: pipelined
      make(Coll::kAlltoAll, tdmBfloat16, kNoOp, (size_t{4} << 20) + 8, Place::kIn),
  };
  DeviceAllocs& mem = kept_allocs(GetParam());
  std::vector<Bufs> bufs;
  for (const Case& c : cases) bufs.push_back(place(c, mem.alloc()));
  for (int round = 0; round < 2; ++round) capture_and_replay(cases, bufs, 3);
}

INSTANTIATE_TEST_SUITE_P(Device, DirectAllToAll, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "TdmMemAlloc" : "CudaMalloc");
                         });

INSTANTIATE_TEST_SUITE_P(Device, Graph,
                         ::testing::Values(tdmFloat32, tdmBfloat16, tdmInt32, tdmFloat8e4m3),
                         [](const ::testing::TestParamInfo<tdmDataType_t>& p) {
                           return std::string(type_name(p.param));
                         });

}  // namespace
}  // namespace collectives_gpu_test
