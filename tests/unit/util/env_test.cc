// TANDEM_* knob parsing: every rejected class fails with tdmInvalidArgument and
// a sentence naming the variable and the value; edge values are accepted.
#include "util/env.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <string>

#include "tests/common/scoped_env.h"
#include "util/error.h"

namespace tdm::env {
namespace {

using tdm::testing::ScopedEnv;

constexpr const char* kKnob = "TANDEM_TEST_KNOB";

// Runs `read` with kKnob set to `value`; it must throw tdmInvalidArgument naming
// the variable, the value and `fragment` (the accepted range or vocabulary).
template <typename F>
void expect_rejected(const char* value, F read, const std::string& fragment) {
  SCOPED_TRACE(std::string(kKnob) + "=" + value);
  ScopedEnv env(kKnob, value);
  try {
    read();
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), tdmInvalidArgument) << what;
    EXPECT_NE(what.find(kKnob), std::string::npos) << what;
    EXPECT_NE(what.find(std::string("'") + value + "'"), std::string::npos) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(Env, UnsetOrEmptyGivesTheFallbackEvenOutsideTheRange) {
  ScopedEnv env(kKnob, nullptr);
  EXPECT_EQ(get_int(kKnob, -1, 1, 65535), -1);
  EXPECT_EQ(get_size(kKnob, 7, 4096, 8192), 7u);
  EXPECT_EQ(get_double(kKnob, 2.5, 0, 1), 2.5);
  EXPECT_EQ(get_choice(kKnob, "b", {"a", "b"}), "b");
  env.set(kKnob, "");
  EXPECT_EQ(get_int(kKnob, 3, 0, 10), 3);
}

TEST(Env, IntegersAcceptTheirRangeEdges) {
  ScopedEnv env(kKnob, "0");
  EXPECT_EQ(get_int(kKnob, 5, 0, INT_MAX - 1), 0);
  env.set(kKnob, "2147483647");
  EXPECT_EQ(get_int(kKnob, 5, 1, INT_MAX), INT_MAX);
  env.set(kKnob, "-9223372036854775808");
  EXPECT_EQ(get_int(kKnob, 5, INT64_MIN, INT64_MAX), INT64_MIN);
  env.set(kKnob, "-3");
  EXPECT_EQ(get_int(kKnob, 5, -3, 3), -3);
}

TEST(Env, IntegersRejectOutOfRangeOverflowAndGarbage) {
  auto world = [] { get_int(kKnob, 1, 1, INT_MAX); };
  const std::string range = "from 1 to 2147483647";
  expect_rejected("77777777777", world, range);  // once truncated to 468366449
  expect_rejected("0", world, range);
  expect_rejected("-1", world, range);
  expect_rejected("99999999999999999999", world, range);  // past int64
  expect_rejected("twelve", world, range);
  expect_rejected("12abc", world, range);
  expect_rejected("12 ", world, range);
  expect_rejected(" 12", world, range);
  expect_rejected("+12", world, range);
  expect_rejected("0x10", world, range);
  expect_rejected("1.5", world, range);
  expect_rejected(
      "65536", [] { get_int(kKnob, -1, 1, 65535); }, "from 1 to 65535");
}

TEST(Env, SizesTakeSuffixesAndHex) {
  ScopedEnv env(kKnob, "12K");
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), 12u << 10);
  env.set(kKnob, "4m");
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), 4u << 20);
  env.set(kKnob, "1G");
  EXPECT_EQ(get_size(kKnob, 0, 4096, 1 << 30), 1u << 30);
  env.set(kKnob, "4096");
  EXPECT_EQ(get_size(kKnob, 0, 4096, 1 << 30), 4096u);
  env.set(kKnob, "0x1000");
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), 4096u);
  env.set(kKnob, "010");
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), 10u);  // decimal, not octal
  env.set(kKnob, "18446744073709551615");
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), UINT64_MAX);
  env.set(kKnob, "17179869183G");  // (2^34 - 1) << 30 still fits
  EXPECT_EQ(get_size(kKnob, 0, 0, UINT64_MAX), ((uint64_t(1) << 34) - 1) << 30);
}

TEST(Env, SizesRejectSignsOverflowAndGarbage) {
  auto any = [] { get_size(kKnob, 0, 0, UINT64_MAX); };
  const std::string grammar = "bytes, with an optional K, M or G suffix";
  expect_rejected("-887", any, grammar);  // strtoull made it 2^64 - 887
  expect_rejected("-1", any, grammar);
  expect_rejected("+4K", any, grammar);
  expect_rejected("20000000003870g", any, grammar);  // the shift overflowed
  expect_rejected("17179869184G", any, grammar);     // 2^34 << 30 = 2^64
  expect_rejected("18446744073709551616", any, grammar);
  expect_rejected("4KB", any, grammar);
  expect_rejected("4 K", any, grammar);
  expect_rejected("K", any, grammar);
  expect_rejected("0x", any, grammar);
  expect_rejected("1e6", any, grammar);
  expect_rejected("12Q", any, grammar);
  auto buffer = [] { get_size(kKnob, 0, 4 << 10, 1 << 30); };
  expect_rejected("4095", buffer, "from 4K to 1G");
  expect_rejected("1025M", buffer, "from 4K to 1G");
}

TEST(Env, DoublesRejectNonFiniteAndOutOfRange) {
  ScopedEnv env(kKnob, "0.5");
  EXPECT_EQ(get_double(kKnob, 0, 0, 1), 0.5);
  env.set(kKnob, "1e3");
  EXPECT_EQ(get_double(kKnob, 0, 0, 1e3), 1000.0);
  auto unit = [] { get_double(kKnob, 0, 0, 1e3); };
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity", "1e400", "1e19", "-0.5", "1e3x",
                          "+1", " 1", "0x10", "."})
    expect_rejected(bad, unit, "is not a number from 0 to 1000");
}

TEST(Env, TimeoutIsFinitePositiveAndCapped) {
  ScopedEnv env("TANDEM_TIMEOUT", nullptr);
  EXPECT_EQ(timeout_seconds(), 1800.0);
  env.set("TANDEM_TIMEOUT", "0.001");
  EXPECT_EQ(timeout_seconds(), 0.001);
  env.set("TANDEM_TIMEOUT", "1e7");
  EXPECT_EQ(timeout_seconds(), 1e7);
  for (const char* bad : {"0", "-5", "nan", "inf", "9.3e9", "1e19", "10000001", "60s"}) {
    SCOPED_TRACE(bad);
    env.set("TANDEM_TIMEOUT", bad);
    try {
      timeout_seconds();
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), tdmInvalidArgument);
      EXPECT_NE(what.find(std::string("TANDEM_TIMEOUT='") + bad + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("from 0.001 to 1e+07 seconds"), std::string::npos) << what;
    }
  }
}

TEST(Env, ChoicesAndBooleansRejectUnknownValues) {
  ScopedEnv env(kKnob, "ring");
  EXPECT_EQ(get_choice(kKnob, "auto", {"auto", "ring"}), "ring");
  expect_rejected(
      "Ring",
      [] {
        get_choice(kKnob, "auto", {"auto", "ring"});
      },
      "is not one of auto, ring");
  expect_rejected(
      "ring ",
      [] {
        get_choice(kKnob, "auto", {"auto", "ring"});
      },
      "is not one of auto, ring");
  env.set(kKnob, "on");
  EXPECT_TRUE(get_bool(kKnob, false));
  expect_rejected(
      "2", [] { get_bool(kKnob, false); }, "is not a boolean");
}

}  // namespace
}  // namespace tdm::env
