// fused/ep/config.cc and layout.h without a GPU: the order of phases
// (CallOrder) and the symmetric region's layout (no two buffers overlap,
// 16-byte rows, the sizes tandem/ep.h promises).
#include <gtest/gtest.h>

#include "fused/ep/ep.h"
#include "fused/ep/layout.h"
#include "util/error.h"

namespace tdm::fused::ep {
namespace {

using Stage = CallOrder::Stage;

TEST(EpCallOrder, FollowsSendReceiveAndDispatchCombine) {
  CallOrder o;
  EXPECT_THROW(o.check_combine(TDM_EP_BOTH, 0, 1), Error);  // nothing dispatched yet
  EXPECT_THROW(o.check_dispatch(TDM_EP_RECV, 0, 1), Error);
  o.commit(o.check_dispatch(TDM_EP_SEND, 5, 2), 5, 2);
  EXPECT_EQ(o.stage(), Stage::kDispatchSent);
  EXPECT_THROW(o.check_dispatch(TDM_EP_SEND, 5, 2), Error);
  EXPECT_THROW(o.check_dispatch(TDM_EP_BOTH, 5, 2), Error);
  EXPECT_THROW(o.check_combine(TDM_EP_BOTH, 5, 2), Error);
  EXPECT_THROW(o.check_dispatch(TDM_EP_RECV, 4, 2), Error);  // T differs from the send
  o.commit(o.check_dispatch(TDM_EP_RECV, 5, 2), 5, 2);
  EXPECT_EQ(o.stage(), Stage::kDispatched);
  EXPECT_THROW(o.check_combine(TDM_EP_SEND, 5, 3), Error);  // K differs from the dispatch
  EXPECT_THROW(o.check_combine(TDM_EP_RECV, 5, 2), Error);
  o.commit(o.check_combine(TDM_EP_SEND, 5, 2), 5, 2);
  EXPECT_THROW(o.check_dispatch(TDM_EP_BOTH, 5, 2), Error);
  o.commit(o.check_combine(TDM_EP_RECV, 5, 2), 5, 2);
  o.commit(o.check_combine(TDM_EP_BOTH, 5, 2), 5, 2);   // again on the same dispatch
  o.commit(o.check_dispatch(TDM_EP_BOTH, 0, 1), 0, 1);  // a new one, T = 0
  EXPECT_EQ(o.stage(), Stage::kDispatched);
}

TEST(EpCallOrder, RefusalsNameTheProblem) {
  CallOrder o;
  try {
    o.check_dispatch(TDM_EP_RECV, 0, 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidUsage);
    EXPECT_NE(std::string(e.what()).find("send phase before it"), std::string::npos) << e.what();
  }
}

TEST(EpLayout, BuffersDoNotOverlapAndRowsAreAligned) {
  for (int nranks : {1, 2, 4, 8})
    for (int hidden : {32, 2048, 2880, 7168, 8192})
      for (bool fp8 : {false, true}) {
        Layout lo;
        lo.nranks = nranks;
        lo.experts = 288 / 8 * nranks;
        lo.max_tokens = 33;
        lo.hidden = hidden;
        lo.max_topk = 7;
        lo.fp8 = fp8;
        SCOPED_TRACE(testing::Message() << nranks << " ranks, H " << hidden << " fp8 " << fp8);
        EXPECT_EQ(lo.row_bytes() % 16, 0u);
        EXPECT_EQ(lo.groups(), (hidden + 127) / 128);
        EXPECT_GE(lo.scale_bytes(), fp8 ? size_t(lo.groups()) * 4 : 0u);
        const int L = lo.local_experts();
        // Last signal, flag, row and combine row end before the next area starts.
        EXPECT_LE(lo.dispatch_signal(1, L - 1, nranks - 1) + 8, lo.combine_signals());
        EXPECT_LE(lo.combine_signal(1, nranks - 1) + 8, lo.dispatch_flags());
        EXPECT_LE(lo.dispatch_flag(1, L - 1, nranks - 1, lo.max_tokens - 1) + 8,
                  lo.combine_flags());
        EXPECT_LE(lo.combine_flag(1, lo.max_tokens - 1, lo.max_topk - 1) + 8, lo.dispatch_rows());
        EXPECT_EQ(lo.dispatch_flag(1, 0, 0, 0) - lo.dispatch_flag(0, 0, 0, 0),
                  size_t(L) * lo.rows_per_expert() * 8);
        EXPECT_EQ(lo.combine_flag(0, 1, 0) - lo.combine_flag(0, 0, 0), size_t(lo.max_topk) * 8);
        EXPECT_LE(lo.dispatch_row(1, L - 1, nranks - 1, lo.max_tokens - 1) + lo.row_bytes(),
                  lo.combine_rows());
        EXPECT_LE(lo.combine_row(1, lo.max_tokens - 1, lo.max_topk - 1) + lo.combine_row_bytes(),
                  lo.region_bytes());
        EXPECT_EQ(lo.dispatch_rows() % kRegionAlign, 0u);
        EXPECT_EQ(lo.combine_rows() % kRegionAlign, 0u);
        // Neighbouring slots are one row apart; parities one copy apart.
        EXPECT_EQ(lo.dispatch_row(0, 0, 0, 1) - lo.dispatch_row(0, 0, 0, 0), lo.row_bytes());
        EXPECT_EQ(lo.dispatch_row(1, 0, 0, 0) - lo.dispatch_row(0, 0, 0, 0),
                  size_t(L) * lo.rows_per_expert() * lo.row_bytes());
        EXPECT_EQ(lo.combine_row(0, 1, 0) - lo.combine_row(0, 0, 0),
                  size_t(lo.max_topk) * 2 * hidden);
      }
}

TEST(EpLayout, DispatchWordCarriesEpochAndRows) {
  EXPECT_EQ(dispatch_word(7, 3) >> 32, 7u);
  EXPECT_EQ(uint32_t(dispatch_word(7, 3)), 3u);
  EXPECT_NE(dispatch_word(1, 0), 0u);  // the zero-row signal of epoch 1 differs from the initial 0
}

}  // namespace
}  // namespace tdm::fused::ep
