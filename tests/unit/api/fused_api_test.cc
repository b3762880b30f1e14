// The argument checks of tandem/fused.h that need no GPU (src/api/fused_api.cc):
// each bad call returns its code with a sentence naming the problem and
// hands out nothing. Communicators here have no CUDA engine (no GPU on CI, and
// tdmCommInitAll's ranks have no current device), so creating an op must fail
// with tdmInvalidUsage saying so, after the cheaper checks have run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tandem/fused.h"
#include "tandem/tandem.h"
#include "tests/common/api_checks.h"

namespace {

using tdm::test::expect_error;

using CreateFn = tdmResult_t (*)(tdmComm_t, const tdmGemmShape_t*, tdmFusedOp_t*);
constexpr CreateFn kCreates[] = {tdmAgGemmCreate, tdmGemmRsCreate, tdmGemmArCreate};

class FusedApi : public tdm::test::HostCommPair {
 protected:
  tdmGemmShape_t shape_{64, 32, 16, tdmBfloat16, 0};
};

TEST_F(FusedApi, NullArgumentsAreRefusedWithASentence) {
  for (CreateFn create : kCreates) {
    tdmFusedOp_t op = reinterpret_cast<tdmFusedOp_t>(0x1);
    expect_error(create(nullptr, &shape_, &op), tdmInvalidArgument, "comm is NULL");
    expect_error(create(comms_[0], nullptr, &op), tdmInvalidArgument, "shape is NULL");
    expect_error(create(comms_[0], &shape_, nullptr), tdmInvalidArgument, "op is NULL");
    EXPECT_EQ(op, reinterpret_cast<tdmFusedOp_t>(0x1)) << "a failed create wrote *op";
  }
  int x = 0;
  expect_error(tdmAgGemm(nullptr, &x, &x, &x, nullptr, 2, nullptr), tdmInvalidArgument,
               "op is NULL");
  expect_error(tdmGemmRs(nullptr, &x, &x, &x, 2, nullptr), tdmInvalidArgument, "op is NULL");
  expect_error(tdmGemmAr(nullptr, &x, &x, &x, 2, nullptr), tdmInvalidArgument, "op is NULL");
  expect_error(tdmFusedOpDestroy(nullptr), tdmInvalidArgument, "op is NULL");
}

TEST_F(FusedApi, ForgedHandlesAreNotLiveOps) {
  int fake = 0;
  auto forged = reinterpret_cast<tdmFusedOp_t>(&fake);
  expect_error(tdmGemmAr(forged, &fake, &fake, &fake, 2, nullptr), tdmInvalidArgument,
               "not a live fused op");
  expect_error(tdmFusedOpDestroy(forged), tdmInvalidArgument, "not a live fused op");
}

TEST_F(FusedApi, BadShapesAreRefused) {
  tdmFusedOp_t op = nullptr;
  tdmGemmShape_t s = shape_;
  s.dtype = tdmFloat32;
  expect_error(tdmAgGemmCreate(comms_[0], &s, &op), tdmInvalidArgument,
               "tdmBfloat16 or tdmFloat16");
  s = shape_;
  s.k = 0;
  expect_error(tdmGemmRsCreate(comms_[0], &s, &op), tdmInvalidArgument, "zero size");
  s = shape_;
  s.max_m = size_t{1} << 40;
  expect_error(tdmGemmArCreate(comms_[0], &s, &op), tdmInvalidArgument, "2^40");
  s = shape_;
  s.max_m = 1;  // below 2 ranks
  expect_error(tdmAgGemmCreate(comms_[0], &s, &op), tdmInvalidArgument, "one row per rank");
  EXPECT_EQ(op, nullptr);
}

TEST_F(FusedApi, CommWithoutCudaEngineIsRefused) {
  for (CreateFn create : kCreates) {
    tdmFusedOp_t op = nullptr;
    expect_error(create(comms_[0], &shape_, &op), tdmInvalidUsage, "CUDA");
    EXPECT_EQ(op, nullptr);
  }
}

}  // namespace
