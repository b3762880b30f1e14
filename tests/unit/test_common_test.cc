// The test harness itself (tests/common): what the other tests' verdicts
// rest on. The codecs are checked exhaustively in numeric_types_test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <utility>
#include <vector>

#include "tests/common/device_choice.h"
#include "tests/common/reference.h"
#include "tests/common/seeded_data.h"
#include "tests/common/types.h"

namespace {

using namespace tdm::test;

// Sets the given launcher variables (and unsets the others) for one check.
class LocalRankEnv {
 public:
  using Vars = std::vector<std::pair<const char*, const char*>>;
  explicit LocalRankEnv(const Vars& set) {
    for (const char* name : kLocalRankVariables) unsetenv(name);
    for (const auto& [name, value] : set) setenv(name, value, 1);
  }
  LocalRankEnv(const LocalRankEnv&) = delete;
  LocalRankEnv& operator=(const LocalRankEnv&) = delete;
  ~LocalRankEnv() {
    for (const char* name : kLocalRankVariables) unsetenv(name);
  }
};

TEST(DeviceChoice, LocalRankOrder) {
  {
    LocalRankEnv env(LocalRankEnv::Vars{});
    EXPECT_EQ(local_rank(), 0);
  }
  {
    LocalRankEnv env({{"SLURM_LOCALID", "5"}, {"MPI_LOCALRANKID", "4"}});
    EXPECT_EQ(local_rank(), 4);
  }
  {
    LocalRankEnv env({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}, {"MPI_LOCALRANKID", "4"}});
    EXPECT_EQ(local_rank(), 3);
  }
  {
    LocalRankEnv env({{"LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "3"}});
    EXPECT_EQ(local_rank(), 2);  // torchrun before mpirun
  }
  {
    LocalRankEnv env({{"TANDEM_LOCAL_RANK", "1"}, {"LOCAL_RANK", "2"}});
    EXPECT_EQ(local_rank(), 1);
  }
  {
    LocalRankEnv env({{"TANDEM_LOCAL_RANK", "x"}, {"LOCAL_RANK", "-1"}, {"SLURM_LOCALID", "6"}});
    EXPECT_EQ(local_rank(), 6);  // malformed or negative values are skipped
  }
  {
    LocalRankEnv env(LocalRankEnv::Vars{{"LOCAL_RANK", "5"}});
    EXPECT_EQ(device_for_local_rank(2), 1);
  }
}

TEST(SeededData, Hashes) {
  EXPECT_EQ(mix64(0), 0xe220a8397b1dcdafull);  // splitmix64's first output from seed 0
  EXPECT_EQ(fmix64(0), 0u);                    // MurmurHash3's finalizer fixes 0
  EXPECT_NE(fmix64(1), mix64(1));
}

TEST(SeededData, ReductionValuesAreExact) {
  for (tdmDataType_t t : {tdmFloat16, tdmBfloat16, tdmFloat8e4m3, tdmFloat8e5m2, tdmFloat32}) {
    EXPECT_LE(8.0 * exact_range(t), traits(t).max_exact) << t;
    for (uint64_t h = 0; h < 64; ++h) {
      for (bool product : {false, true}) {
        const double v = reduction_value(t, product, h);
        EXPECT_EQ(round_to(t, v), v) << t << " " << v;
      }
    }
  }
}

TEST(Types, Codes) {
  EXPECT_EQ(encode(tdmFloat16, 1.0), 0x3c00u);
  EXPECT_EQ(encode(tdmBfloat16, -2.0), 0xc000u);
  EXPECT_EQ(encode(tdmFloat8e4m3, 448.0), 0x7eu);
  EXPECT_EQ(encode(tdmFloat8e5m2, 1e9), 0x7bu);     // fp8 saturates
  EXPECT_EQ(encode(tdmFloat16, 65520.0), 0x7c00u);  // fp16 overflows to infinity
  EXPECT_EQ(encode(tdmInt8, -1.0), 0xffu);
  EXPECT_EQ(decode(tdmInt8, 0xff), -1.0);
  EXPECT_EQ(decode(tdmUint8, 0xff), 255.0);
  EXPECT_EQ(decode(tdmFloat32, encode(tdmFloat32, 0.1)), static_cast<double>(0.1f));
  EXPECT_EQ(sign_extend(tdmInt32, 0xffffffffull), -1);
  EXPECT_EQ(truncate(tdmUint8, 0x1234), 0x34u);
}

TEST(Reference, Integers) {
  const uint64_t in[] = {0xff, 0x02, 0x80};  // int8: -1, 2, -128
  auto input = [&](int r) { return in[r]; };
  auto scalar = [](int r) { return static_cast<uint64_t>(r + 1); };
  EXPECT_EQ(reduce_int(tdmInt8, tdmSum, 3, input, scalar), 0x81u);  // -127
  EXPECT_EQ(reduce_int(tdmInt8, tdmMax, 3, input, scalar), 0x02u);
  EXPECT_EQ(reduce_int(tdmInt8, tdmMin, 3, input, scalar), 0x80u);
  EXPECT_EQ(reduce_int(tdmUint8, tdmMax, 3, input, scalar), 0xffu);
  EXPECT_EQ(reduce_int(tdmInt8, tdmProd, 3, input, scalar), 0x00u);     // -1 * 2 * -128 = 256
  EXPECT_EQ(reduce_int(tdmInt8, tdmAvg, 3, input, scalar), 0xd6u);      // -127 / 3 = -42
  EXPECT_EQ(reduce_int(tdmInt8, kPreMulSum, 3, input, scalar), 0x83u);  // -1 + 4 - 384 = -381
}

TEST(Reference, Floats) {
  const double in[] = {1.5, -4, 2};
  auto term = [&](int r) { return in[r]; };
  EXPECT_EQ(reduce_float(tdmSum, 3, term).value, -0.5);
  EXPECT_EQ(reduce_float(tdmSum, 3, term).magnitude, 7.5);
  EXPECT_EQ(reduce_float(tdmProd, 3, term).value, -12);
  EXPECT_EQ(reduce_float(tdmMax, 3, term).value, 2);
  EXPECT_EQ(reduce_float(tdmMin, 3, term).value, -4);
  EXPECT_EQ(reduce_float(tdmAvg, 3, term).value, -0.5 / 3);
  EXPECT_EQ(reduce_float(tdmAvg, 3, term).sum, -0.5);
  EXPECT_TRUE(near(tdmFloat16, encode(tdmFloat16, 2.0), 2.0, 0));
  EXPECT_FALSE(near(tdmFloat16, 0x7e00, 2.0, 1e9));  // NaN never matches
}

}  // namespace
