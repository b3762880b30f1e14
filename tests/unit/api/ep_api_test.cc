// The argument checks of tandem/ep.h that need no GPU (src/api/ep_api.cc):
// each bad call returns its code with a sentence naming the problem and hands
// out nothing. Communicators here have no CUDA engine (no GPU on CI, and
// tdmCommInitAll's ranks have no current device), so creating an ep fails
// with tdmInvalidUsage naming CUDA, after the cheaper checks have run.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tandem/ep.h"
#include "tandem/tandem.h"
#include "tests/common/api_checks.h"

namespace {

using tdm::test::expect_error;

class EpApi : public tdm::test::HostCommPair {
 protected:
  static tdmEpConfig_t config() {
    tdmEpConfig_t c{};
    c.size = sizeof c;
    c.version = TDM_EP_CONFIG_VERSION;
    c.num_experts = 288;
    c.max_tokens = 128;
    c.hidden = 7168;
    c.max_topk = 8;
    c.wire = TDM_EP_WIRE_FP8;
    return c;
  }
};

TEST_F(EpApi, CreateWithoutTheCudaEngineFailsWithASentence) {
  const tdmEpConfig_t c = config();
  tdmEp_t ep = reinterpret_cast<tdmEp_t>(0x1);
  expect_error(tdmEpCreate(comms_[0], &c, &ep), tdmInvalidUsage, "CUDA");
  EXPECT_EQ(ep, reinterpret_cast<tdmEp_t>(0x1)) << "a failed create wrote *ep";
}

TEST_F(EpApi, NullArgumentsAreRefused) {
  const tdmEpConfig_t c = config();
  tdmEp_t ep = nullptr;
  expect_error(tdmEpCreate(nullptr, &c, &ep), tdmInvalidArgument, "comm is NULL");
  expect_error(tdmEpCreate(comms_[0], nullptr, &ep), tdmInvalidArgument, "config is NULL");
  expect_error(tdmEpCreate(comms_[0], &c, nullptr), tdmInvalidArgument, "ep is NULL");
  int x = 0;
  expect_error(
      tdmEpDispatch(nullptr, &x, nullptr, 1, 1, &x, nullptr, &x, nullptr, TDM_EP_BOTH, nullptr),
      tdmInvalidArgument, "ep is NULL");
  expect_error(tdmEpCombine(nullptr, &x, nullptr, nullptr, 1, 1, &x, TDM_EP_BOTH, nullptr),
               tdmInvalidArgument, "ep is NULL");
  expect_error(tdmEpGetDeviceError(nullptr), tdmInvalidArgument, "ep is NULL");
  expect_error(tdmEpDestroy(nullptr), tdmInvalidArgument, "ep is NULL");
  size_t bytes = 0;
  expect_error(tdmEpBufferSizeHint(&c, 2, nullptr), tdmInvalidArgument, "bytes is NULL");
  expect_error(tdmEpBufferSizeHint(nullptr, 2, &bytes), tdmInvalidArgument, "config is NULL");
}

TEST_F(EpApi, ForgedHandlesAreNotLiveEps) {
  int fake = 0;
  auto forged = reinterpret_cast<tdmEp_t>(&fake);
  expect_error(tdmEpGetDeviceError(forged), tdmInvalidArgument, "not a live ep");
  expect_error(tdmEpDestroy(forged), tdmInvalidArgument, "not a live ep");
}

TEST_F(EpApi, BadConfigsAreRefusedByNameAndTheHintIsTheLayout) {
  size_t bytes = 0;
  auto refused = [&](tdmEpConfig_t c, int nranks, tdmResult_t code, const char* mentions) {
    expect_error(tdmEpBufferSizeHint(&c, nranks, &bytes), code, mentions);
    tdmEp_t ep = nullptr;
    if (nranks == 2) expect_error(tdmEpCreate(comms_[0], &c, &ep), code, mentions);
    EXPECT_EQ(ep, nullptr);
  };
  tdmEpConfig_t c = config();
  c.hidden = 7000;
  refused(c, 2, tdmInvalidArgument, "multiple of 32");
  c = config();
  c.hidden = 8224;
  refused(c, 2, tdmInvalidArgument, "hidden 8224 is out of range");
  c = config();
  c.num_experts = 289;
  refused(c, 2, tdmInvalidArgument, "not divisible by the 2 ranks");
  c = config();
  c.max_topk = 17;
  refused(c, 2, tdmInvalidArgument, "max_topk 17");
  c = config();
  c.max_tokens = 0;
  refused(c, 2, tdmInvalidArgument, "max_tokens 0");
  c = config();
  c.version = 99;
  refused(c, 2, tdmInvalidArgument, "version");
  c = config();
  c.wire = static_cast<tdmEpWire_t>(7);
  refused(c, 2, tdmInvalidArgument, "wire 7");
  c = config();
  c.flags = 0x10;
  refused(c, 2, tdmInvalidArgument, "unknown bits");
  refused(config(), 9, tdmInvalidUsage, "1 to 8 ranks");

  // DeepEP's reference point: 2 source ranks x 128 token rows of (7168 fp8
  // + 224 scales + 48 meta: 8 header, 8 entries of 4, rounded to 16) bytes,
  // twice, plus the combine rows (128 tokens x 8 x 7168 bf16, twice) and the
  // words: signals (2 x 144 x 2 dispatch, 2 x 2 token rows, 2 x 2 combine)
  // and a flag per row (2 x 2 x 128 dispatch, 2 x 128 x 8 combine).
  c = config();
  ASSERT_EQ(tdmEpBufferSizeHint(&c, 2, &bytes), tdmSuccess) << tdmGetLastError(nullptr);
  const size_t rows = 2ull * 2 * 128 * (7168 + 224 + 48);
  const size_t combine = 2ull * 128 * 8 * 7168 * 2;
  EXPECT_GE(bytes, rows + combine);
  const size_t words = 8ull * (2 * 144 * 2 + 2 * 2 + 2 * 2 + 2 * 2 * 128 + 2 * 128 * 8);
  EXPECT_LE(bytes, rows + combine + words + 512);
}

}  // namespace
