// reduction_of (plan/reduction.h): the element-wise kind of every op, the
// avg divisor and the premulsum flag.
#include "plan/reduction.h"

#include <gtest/gtest.h>

namespace tdm::plan {
namespace {

TEST(ReductionOf, BuiltInOps) {
  for (int n : {1, 3, 8}) {
    SCOPED_TRACE(n);
    struct Row {
      tdmRedOp_t op;
      ReduceKind kind;
      int divisor;
    };
    const Row rows[] = {{tdmSum, ReduceKind::kSum, 0},
                        {tdmProd, ReduceKind::kProd, 0},
                        {tdmMax, ReduceKind::kMax, 0},
                        {tdmMin, ReduceKind::kMin, 0},
                        {tdmAvg, ReduceKind::kSum, n}};
    for (const Row& row : rows) {
      SCOPED_TRACE(static_cast<int>(row.op));
      const ReductionOf of = reduction_of(row.op, n);
      EXPECT_EQ(of.kind, row.kind);
      EXPECT_EQ(of.divisor, row.divisor);
      EXPECT_FALSE(of.premul);
    }
  }
}

TEST(ReductionOf, PremulSumOpsAreScaledSums) {
  for (int op : {int(tdmNumOps), int(tdmNumOps) + 1, int(tdmNumOps) + 100}) {
    const ReductionOf of = reduction_of(static_cast<tdmRedOp_t>(op), 4);
    EXPECT_EQ(of.kind, ReduceKind::kSum);
    EXPECT_EQ(of.divisor, 0);
    EXPECT_TRUE(of.premul);
  }
}

}  // namespace
}  // namespace tdm::plan
