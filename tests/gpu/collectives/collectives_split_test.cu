// Communicators split from the world, each with its own CUDA engine.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// Communicators split by rank parity (one rank each at np 2): their own
// CUDA engines, side by side with the world's.
TEST_F(Collectives, SplitCommunicators) {
  const int color = g_rank % 2;
  tdmComm_t sub = nullptr;
  const bool made = all_agree(TDM_OK(tdmCommSplit(g_comm, color, g_rank, &sub, nullptr)));
  if (!made) {
    if (sub) tdmCommDestroy(sub);
    return;
  }
  Ctx ctx;
  ctx.comm = sub;
  TDM_OK(tdmCommCount(sub, &ctx.n));
  TDM_OK(tdmCommUserRank(sub, &ctx.rank));
  for (int r = color; r < g_nranks; r += 2) ctx.seeds.push_back(g_world.seeds[r]);
  EXPECT_EQ(ctx.n, static_cast<int>(ctx.seeds.size()));
  EXPECT_EQ(ctx.rank, g_rank / 2);
  if (all_agree(ctx.n == static_cast<int>(ctx.seeds.size()) && ctx.rank == g_rank / 2)) {
    for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kAllReduce, tdmInt64, kProd, 77777, Place::kIn, 0, &ctx),
                   make(Coll::kReduceScatter, tdmBfloat16, kAvg, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kAllGather, tdmInt8, kNoOp, 1023, Place::kIn, 0, &ctx),
                   make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, ctx.n - 1, &ctx),
                   make(Coll::kAlltoAll, tdmUint8, kNoOp, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kRing, tdmFloat16, kNoOp, 1023, Place::kOut, 0, &ctx)}) {
      run_case(c);
      run_case(make(Coll::kAllReduce, tdmFloat32, kSum, 1023));  // the world in between
    }
  }
  CUDA_OK(cudaStreamSynchronize(g_stream));
  TDM_OK(tdmCommDestroy(sub));
}

}  // namespace
}  // namespace collectives_gpu_test
