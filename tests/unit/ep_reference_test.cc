// tests/common/ep_reference.h, the host reference of the ep GPU test, on
// values worked out by hand: the per-group scale, the saturating fp8 cast,
// the power-of-two rounding, the last partial group, the routing rules.
#include "tests/common/ep_reference.h"

#include <gtest/gtest.h>

#include <vector>

namespace tdm::test::ep {
namespace {

TEST(EpReference, QuantizesEachGroupByItsOwnAmax) {
  // 160 channels: group 0 (128) holds 1.0 and -2.0, group 1 (32) only 0.5.
  std::vector<uint16_t> row(160, bf16_bits(0.f));
  row[3] = bf16_bits(1.0f);
  row[9] = bf16_bits(-2.0f);
  row[140] = bf16_bits(0.5f);
  std::vector<uint8_t> q(160);
  float scales[2];
  quantize_row(row.data(), 160, false, q.data(), scales);
  EXPECT_FLOAT_EQ(scales[0], 2.0f / 448.0f);
  EXPECT_FLOAT_EQ(scales[1], 0.5f / 448.0f);
  EXPECT_EQ(q[9], 0xfe);    // -448: S.1111.110
  EXPECT_EQ(q[140], 0x7e);  // 448
  EXPECT_EQ(q[3], 0x76);    // 224 = 1.75 * 2^7: exponent field 14, mantissa 110
  EXPECT_EQ(q[0], 0x00);
}

TEST(EpReference, TinyGroupsUseTheFloorAndRoundingGivesPowersOfTwo) {
  std::vector<uint16_t> row(128, bf16_bits(0.f));
  std::vector<uint8_t> q(128);
  float scale = 0;
  quantize_row(row.data(), 128, false, q.data(), &scale);
  EXPECT_FLOAT_EQ(scale, 1e-4f / 448.0f);
  row[0] = bf16_bits(3.0f);  // 3 / 448 rounds up to 2^-7
  quantize_row(row.data(), 128, true, q.data(), &scale);
  EXPECT_EQ(scale, 1.0f / 128);
  EXPECT_EQ(e4m3_value(q[0]), 384.0f);                    // 3 * 128
  EXPECT_EQ(dequant_scale(448.0f * 0.25f, true), 0.25f);  // a power of two stays
}

TEST(EpReference, RoutingSkipsMinusOneOutOfRangeAndRepeats) {
  const int64_t token[] = {3, -1, 3, 9, 2};
  EXPECT_TRUE(routed(token, 0, 8));
  EXPECT_FALSE(routed(token, 1, 8));
  EXPECT_FALSE(routed(token, 2, 8));  // repeats k = 0
  EXPECT_FALSE(routed(token, 3, 8));  // 9 >= E
  EXPECT_TRUE(routed(token, 4, 8));
  const std::vector<std::vector<int64_t>> idx = {{2, 3, 2, -1}, {1, 2}};
  const auto rows = rows_of(2, idx, {2, 1}, 2, 8);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (Source{0, 0, 0}));
  EXPECT_EQ(rows[1], (Source{0, 1, 0}));
  EXPECT_EQ(rows[2], (Source{1, 0, 1}));
}

}  // namespace
}  // namespace tdm::test::ep
