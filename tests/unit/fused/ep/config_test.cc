// fused/ep/config.cc and layout.h without a GPU: the order of phases
// (CallOrder) and the symmetric region's layout (no two buffers overlap,
// 16-byte rows, the sizes tandem/ep.h promises, the token rows' meta entries).
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
        const int R = nranks, last = lo.max_tokens - 1;
        // Last signal, flag, row and combine row end before the next area starts.
        EXPECT_LE(lo.dispatch_signal(1, L - 1, R - 1) + 8, lo.token_signals());
        EXPECT_LE(lo.token_signal(1, R - 1) + 8, lo.combine_signals());
        EXPECT_LE(lo.combine_signal(1, R - 1) + 8, lo.dispatch_flags());
        EXPECT_LE(lo.dispatch_flag(1, R - 1, last) + 8, lo.combine_flags());
        EXPECT_LE(lo.combine_flag(1, last, lo.max_topk - 1) + 8, lo.dispatch_rows());
        EXPECT_EQ(lo.token_signal(0, 0), lo.token_signals());
        EXPECT_EQ(lo.dispatch_flag(0, 0, 0), lo.dispatch_flags());
        // A token row per (parity, source rank, row), no longer one per expert.
        EXPECT_EQ(lo.dispatch_flag(1, 0, 0) - lo.dispatch_flag(0, 0, 0),
                  size_t(R) * lo.max_tokens * 8);
        EXPECT_EQ(lo.dispatch_flag(0, 1 % R, 0) - lo.dispatch_flag(0, 0, 0),
                  size_t(1 % R) * lo.max_tokens * 8);
        EXPECT_EQ(lo.combine_flag(0, 1, 0) - lo.combine_flag(0, 0, 0), size_t(lo.max_topk) * 8);
        EXPECT_LE(lo.dispatch_row(1, R - 1, last) + lo.row_bytes(), lo.combine_rows());
        EXPECT_LE(lo.combine_row(1, last, lo.max_topk - 1) + lo.combine_row_bytes(),
                  lo.region_bytes());
        EXPECT_EQ(lo.dispatch_rows() % kRegionAlign, 0u);
        EXPECT_EQ(lo.combine_rows() % kRegionAlign, 0u);
        // The meta follows payload and scales, 16-byte aligned, and holds the
        // header and an entry per top-k position.
        EXPECT_EQ(lo.meta_offset(), lo.payload_bytes() + lo.scale_bytes());
        EXPECT_EQ(lo.meta_offset() % 16, 0u);
        EXPECT_EQ(lo.meta_bytes() % 16, 0u);
        EXPECT_GE(lo.meta_bytes(), kMetaHeaderBytes + 4 * size_t(lo.max_topk));
        EXPECT_EQ(lo.row_bytes(), lo.meta_offset() + lo.meta_bytes());
        // Neighbouring token rows are one row apart; parities one copy apart.
        EXPECT_EQ(lo.dispatch_row(0, 0, 1) - lo.dispatch_row(0, 0, 0), lo.row_bytes());
        EXPECT_EQ(lo.dispatch_row(1, 0, 0) - lo.dispatch_row(0, 0, 0),
                  size_t(R) * lo.max_tokens * lo.row_bytes());
        EXPECT_EQ(lo.combine_row(0, 1, 0) - lo.combine_row(0, 0, 0),
                  size_t(lo.max_topk) * 2 * hidden);
      }
}

TEST(EpLayout, MetaBytesFollowTheTopk) {
  Layout lo;
  lo.max_topk = 1;
  EXPECT_EQ(lo.meta_bytes(), 16u);  // header 8 + one entry, rounded up
  lo.max_topk = 2;
  EXPECT_EQ(lo.meta_bytes(), 16u);
  lo.max_topk = 3;
  EXPECT_EQ(lo.meta_bytes(), 32u);
  lo.max_topk = 8;
  EXPECT_EQ(lo.meta_bytes(), 48u);
  lo.max_topk = kMaxTopk;
  EXPECT_EQ(lo.meta_bytes(), 80u);
}

// The meta entry of a token row: round trip at zero, at the limits (local
// expert < kMaxExperts, k < kMaxTopk, slot < kMaxTokens) and mixed.
TEST(EpLayout, MetaEntriesRoundTripAtTheLimits) {
  static_assert(unpack_meta(pack_meta(kMaxExperts - 1, kMaxTopk - 1, kMaxTokens - 1)).slot ==
                kMaxTokens - 1);
  for (int l : {0, 1, 143, 255, 256, kMaxExperts - 1})
    for (int k : {0, 1, 7, 8, kMaxTopk - 1})
      for (int slot : {0, 1, 127, 32767, 32768, kMaxTokens - 1}) {
        const uint32_t word = pack_meta(l, k, slot);
        const MetaEntry m = unpack_meta(word);
        EXPECT_EQ(m.local_expert, l) << l << " " << k << " " << slot;
        EXPECT_EQ(m.k, k) << l << " " << k << " " << slot;
        EXPECT_EQ(m.slot, slot) << l << " " << k << " " << slot;
      }
  // Fields do not overlap: each at its maximum alone sets only its bits.
  EXPECT_EQ(pack_meta(kMaxExperts - 1, 0, 0), 0x1ffu);
  EXPECT_EQ(pack_meta(0, kMaxTopk - 1, 0), 0xfu << 9);
  EXPECT_EQ(pack_meta(0, 0, kMaxTokens - 1), 0xffffu << 13);
  EXPECT_EQ(pack_meta(kMaxExperts - 1, kMaxTopk - 1, kMaxTokens - 1), (1u << 29) - 1);
}

TEST(EpLayout, DispatchWordCarriesEpochAndRows) {
  EXPECT_EQ(dispatch_word(7, 3) >> 32, 7u);
  EXPECT_EQ(uint32_t(dispatch_word(7, 3)), 3u);
  EXPECT_NE(dispatch_word(1, 0), 0u);  // the zero-row signal of epoch 1 differs from the initial 0
}

}  // namespace
}  // namespace tdm::fused::ep
