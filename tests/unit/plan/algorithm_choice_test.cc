// Which algorithm runs a call (plan/algorithm_choice.h): the host allreduce
// choice and its environment, the CUDA settings and kernel choice, the
// copy-engine rule. Expected boundaries are worked out by hand from the
// documented rules, not computed with the code under test. The environment
// is restored after every test.
#include "plan/algorithm_choice.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/common/scoped_env.h"
#include "util/error.h"

namespace tdm::plan {
namespace {

using testing::ScopedEnv;

constexpr const char* kKnobs[] = {"TANDEM_ONESHOT_MAX_BYTES",   "TANDEM_ALLREDUCE_ALGO",
                                  "TANDEM_CUDA_LL_MAX_BYTES",   "TANDEM_CUDA_ONESHOT_MAX_BYTES",
                                  "TANDEM_CUDA_ALLREDUCE_ALGO", "TANDEM_CUDA_CE",
                                  "TANDEM_CUDA_CE_MIN_BYTES",   "TANDEM_CUDA_DIRECT_MIN_BYTES"};

// Every test starts with none of the knobs set, and leaves the environment as it found it.
class AlgorithmChoice : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* knob : kKnobs) env_.set(knob, nullptr);
  }
  ScopedEnv env_;
};

template <typename F>
void expect_invalid_argument(F f, const std::string& mentions) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

// ---- host ----

TEST_F(AlgorithmChoice, HostSettingsDefaults) {
  const HostAllReduceSettings s = host_allreduce_settings_from_env();
  EXPECT_EQ(s.oneshot_max_bytes, 32u * 1024);
  EXPECT_EQ(s.forced, -1);
}

TEST_F(AlgorithmChoice, HostSettingsFromEnv) {
  env_.set("TANDEM_ONESHOT_MAX_BYTES", "1M");
  EXPECT_EQ(host_allreduce_settings_from_env().oneshot_max_bytes, 1u << 20);
  const std::pair<const char*, HostAllReduce> names[] = {{"oneshot", HostAllReduce::kOneShot},
                                                         {"ring", HostAllReduce::kRing},
                                                         {"hier", HostAllReduce::kHierarchical}};
  for (auto [name, algorithm] : names) {
    env_.set("TANDEM_ALLREDUCE_ALGO", name);
    EXPECT_EQ(host_allreduce_settings_from_env().forced, int32_t(algorithm)) << name;
    EXPECT_EQ(std::string(name_of(algorithm)), name);
  }
}

TEST_F(AlgorithmChoice, HostSettingsRejectBadValues) {
  env_.set("TANDEM_ALLREDUCE_ALGO", "tree");
  expect_invalid_argument([] { host_allreduce_settings_from_env(); }, "TANDEM_ALLREDUCE_ALGO");
  env_.set("TANDEM_ALLREDUCE_ALGO", nullptr);
  for (const char* bad : {"lots", "-1", "1025G", "20000000003870g"}) {
    env_.set("TANDEM_ONESHOT_MAX_BYTES", bad);
    expect_invalid_argument([] { host_allreduce_settings_from_env(); },
                            "TANDEM_ONESHOT_MAX_BYTES='" + std::string(bad) + "'");
  }
  env_.set("TANDEM_ONESHOT_MAX_BYTES", "1024G");  // the cap: "always one-shot"
  EXPECT_EQ(host_allreduce_settings_from_env().oneshot_max_bytes, uint64_t(1) << 40);
}

TEST(ChooseHostAllReduce, BySizeThenByHosts) {
  const HostAllReduceSettings s{1000, -1, 0};
  // Up to the threshold (inclusive): one-shot, whatever the hosts.
  EXPECT_EQ(choose_host_allreduce(s, 0, 8, 2), HostAllReduce::kOneShot);
  EXPECT_EQ(choose_host_allreduce(s, 1000, 8, 2), HostAllReduce::kOneShot);
  // Above: ring on one host, ring when every host has one rank, hierarchical
  // only when the ranks span hosts and some host holds several.
  EXPECT_EQ(choose_host_allreduce(s, 1001, 8, 1), HostAllReduce::kRing);
  EXPECT_EQ(choose_host_allreduce(s, 1001, 8, 8), HostAllReduce::kRing);
  EXPECT_EQ(choose_host_allreduce(s, 1001, 1, 1), HostAllReduce::kRing);
  EXPECT_EQ(choose_host_allreduce(s, 1001, 8, 2), HostAllReduce::kHierarchical);
  EXPECT_EQ(choose_host_allreduce(s, 1001, 4, 3), HostAllReduce::kHierarchical);
  EXPECT_EQ(choose_host_allreduce(s, 1001, 2, 2), HostAllReduce::kRing);
}

TEST(ChooseHostAllReduce, ForcedWinsOverSizeAndHosts) {
  for (auto algorithm :
       {HostAllReduce::kOneShot, HostAllReduce::kRing, HostAllReduce::kHierarchical}) {
    const HostAllReduceSettings s{1000, int32_t(algorithm), 0};
    for (size_t bytes : {size_t(8), size_t(1000), size_t(1) << 30})
      for (int nhosts : {1, 2, 4}) EXPECT_EQ(choose_host_allreduce(s, bytes, 4, nhosts), algorithm);
  }
}

// ---- CUDA ----

TEST_F(AlgorithmChoice, CudaSettingsDefaultsByRankCount) {
  for (int n : {1, 2}) {
    const CudaSettings s = cuda_settings_from_env(n);
    EXPECT_EQ(s.ll_max_bytes, 1u << 20) << n;
    EXPECT_EQ(s.oneshot_max_bytes, 1u << 20) << n;
    EXPECT_EQ(s.ce_min_bytes, 0u);
    EXPECT_EQ(s.forced, int32_t(CudaAllReduce::kAuto));
  }
  for (int n : {3, 4, 8}) {
    const CudaSettings s = cuda_settings_from_env(n);
    EXPECT_EQ(s.ll_max_bytes, 256u << 10) << n;
    EXPECT_EQ(s.oneshot_max_bytes, 64u << 10) << n;
    EXPECT_EQ(s.ce_min_bytes, 0u);
  }
}

TEST_F(AlgorithmChoice, CudaSettingsFromEnv) {
  env_.set("TANDEM_CUDA_LL_MAX_BYTES", "1001");  // rounded up to 8-byte lines
  EXPECT_EQ(cuda_settings_from_env(2).ll_max_bytes, 1008u);
  EXPECT_EQ(cuda_settings_from_env(2).oneshot_max_bytes, 1008u);  // 2 ranks: follows the LL area
  EXPECT_EQ(cuda_settings_from_env(4).oneshot_max_bytes, 64u << 10);
  env_.set("TANDEM_CUDA_ONESHOT_MAX_BYTES", "4K");
  EXPECT_EQ(cuda_settings_from_env(2).oneshot_max_bytes, 4096u);
  EXPECT_EQ(cuda_settings_from_env(8).oneshot_max_bytes, 4096u);

  const std::pair<const char*, CudaAllReduce> names[] = {{"auto", CudaAllReduce::kAuto},
                                                         {"", CudaAllReduce::kAuto},
                                                         {"oneshot", CudaAllReduce::kOneShot},
                                                         {"twoshot", CudaAllReduce::kTwoShot},
                                                         {"pipelined", CudaAllReduce::kPipelined}};
  for (auto [name, algorithm] : names) {
    env_.set("TANDEM_CUDA_ALLREDUCE_ALGO", name);
    EXPECT_EQ(cuda_settings_from_env(4).forced, int32_t(algorithm)) << name;
  }

  env_.set("TANDEM_CUDA_CE", "1");
  EXPECT_EQ(cuda_settings_from_env(2).ce_min_bytes, 32u << 20);
  env_.set("TANDEM_CUDA_CE_MIN_BYTES", "1M");
  EXPECT_EQ(cuda_settings_from_env(2).ce_min_bytes, 1u << 20);
  env_.set("TANDEM_CUDA_CE_MIN_BYTES", "0");  // on means on: at least one byte
  EXPECT_EQ(cuda_settings_from_env(2).ce_min_bytes, 1u);
  env_.set("TANDEM_CUDA_CE", "0");
  EXPECT_EQ(cuda_settings_from_env(2).ce_min_bytes, 0u);

  EXPECT_EQ(cuda_settings_from_env(2).direct_min_bytes, 8u << 20);
  env_.set("TANDEM_CUDA_DIRECT_MIN_BYTES", "1M");
  EXPECT_EQ(cuda_settings_from_env(4).direct_min_bytes, 1u << 20);
  env_.set("TANDEM_CUDA_DIRECT_MIN_BYTES", "0");
  EXPECT_EQ(cuda_settings_from_env(2).direct_min_bytes, 0u);
}

TEST_F(AlgorithmChoice, DirectAllToAllFromItsThresholdOnly) {
  CudaSettings s = cuda_settings_from_env(2);
  EXPECT_FALSE(direct_eligible(s, CallKind::kAlltoAll, (8u << 20) - 1));
  EXPECT_TRUE(direct_eligible(s, CallKind::kAlltoAll, 8u << 20));
  EXPECT_TRUE(direct_eligible(s, CallKind::kAlltoAll, (8u << 20) + 16));
  EXPECT_FALSE(direct_eligible(s, CallKind::kAlltoAll, (8u << 20) + 13));  // not whole vectors
  for (CallKind other : {CallKind::kAllGather, CallKind::kAllReduce, CallKind::kBroadcast})
    EXPECT_FALSE(direct_eligible(s, other, 1u << 30));
  s.direct_min_bytes = 0;  // off
  EXPECT_FALSE(direct_eligible(s, CallKind::kAlltoAll, 1u << 30));
}

TEST_F(AlgorithmChoice, CudaSettingsRejectBadValues) {
  env_.set("TANDEM_CUDA_ALLREDUCE_ALGO", "ring");
  expect_invalid_argument([] { cuda_settings_from_env(2); }, "TANDEM_CUDA_ALLREDUCE_ALGO");
  env_.set("TANDEM_CUDA_ALLREDUCE_ALGO", nullptr);
  for (const char* bad : {"12Q", "-8", "2G"}) {  // the LL area is allocated: at most 1G
    env_.set("TANDEM_CUDA_LL_MAX_BYTES", bad);
    expect_invalid_argument([] { cuda_settings_from_env(2); },
                            "TANDEM_CUDA_LL_MAX_BYTES='" + std::string(bad) + "'");
  }
  env_.set("TANDEM_CUDA_LL_MAX_BYTES", nullptr);
  env_.set("TANDEM_CUDA_CE", "1");
  env_.set("TANDEM_CUDA_CE_MIN_BYTES", "-1");
  expect_invalid_argument([] { cuda_settings_from_env(2); }, "TANDEM_CUDA_CE_MIN_BYTES='-1'");
  env_.set("TANDEM_CUDA_CE_MIN_BYTES", nullptr);
  env_.set("TANDEM_CUDA_DIRECT_MIN_BYTES", "lots");
  expect_invalid_argument([] { cuda_settings_from_env(2); }, "TANDEM_CUDA_DIRECT_MIN_BYTES='lots'");
}

TEST(TwoShotShardBytes, CeilingOfAShareInEightByteLines) {
  EXPECT_EQ(two_shot_shard_bytes(0, 4), 0u);
  EXPECT_EQ(two_shot_shard_bytes(1, 4), 8u);
  EXPECT_EQ(two_shot_shard_bytes(32, 4), 8u);  // 4 ranks x 8 bytes
  EXPECT_EQ(two_shot_shard_bytes(33, 4), 16u);
  EXPECT_EQ(two_shot_shard_bytes(1000, 3), 336u);  // 1000 / 24 = 41.7 -> 42 lines
  EXPECT_EQ(two_shot_shard_bytes(1 << 20, 8), 131072u);
  EXPECT_EQ(two_shot_shard_bytes(1 << 20, 1), size_t(1) << 20);
}

CudaSettings settings(uint64_t ll, uint64_t oneshot, CudaAllReduce forced) {
  return CudaSettings{ll, oneshot, 0, 0, int32_t(forced), 0};
}

TEST(ChooseCudaKernel, AllReduceBySize) {
  // LL area 1024 B, one-shot up to 512 B, 4 ranks: two-shot needs 2 x shard
  // <= 1024, shard = ceil(m / 32) lines of 8 -> m <= 2048.
  const CudaSettings s = settings(1024, 512, CudaAllReduce::kAuto);
  const auto k = CallKind::kAllReduce;
  EXPECT_EQ(choose_cuda_kernel(s, k, 8, 4), CudaKernel::kOneShotLL);
  EXPECT_EQ(choose_cuda_kernel(s, k, 512, 4), CudaKernel::kOneShotLL);
  EXPECT_EQ(choose_cuda_kernel(s, k, 513, 4), CudaKernel::kTwoShotLL);
  EXPECT_EQ(choose_cuda_kernel(s, k, 2048, 4), CudaKernel::kTwoShotLL);
  EXPECT_EQ(choose_cuda_kernel(s, k, 2049, 4), CudaKernel::kPipelined);
  // The one-shot threshold never reaches past the LL area.
  const CudaSettings big_oneshot = settings(1024, 1 << 20, CudaAllReduce::kAuto);
  EXPECT_EQ(choose_cuda_kernel(big_oneshot, k, 1024, 4), CudaKernel::kOneShotLL);
  EXPECT_EQ(choose_cuda_kernel(big_oneshot, k, 1025, 4), CudaKernel::kTwoShotLL);
}

TEST(ChooseCudaKernel, TwoRanksByDefaultNeverTwoShot) {
  // 2 ranks: a shard is half the message, so two-shot fits exactly what one-shot does.
  const CudaSettings s = settings(1 << 20, 1 << 20, CudaAllReduce::kAuto);
  EXPECT_EQ(choose_cuda_kernel(s, CallKind::kAllReduce, 1 << 20, 2), CudaKernel::kOneShotLL);
  for (size_t m : {size_t(1 << 20) + 1, size_t(1 << 20) + 8, size_t(2) << 20})
    EXPECT_EQ(choose_cuda_kernel(s, CallKind::kAllReduce, m, 2), CudaKernel::kPipelined) << m;
}

TEST(ChooseCudaKernel, ForcedAlgorithmsFallBackToPipelinedWhenTheyDoNotFit) {
  const auto k = CallKind::kAllReduce;
  const CudaSettings one = settings(1024, 512, CudaAllReduce::kOneShot);
  EXPECT_EQ(choose_cuda_kernel(one, k, 8, 4), CudaKernel::kOneShotLL);
  EXPECT_EQ(choose_cuda_kernel(one, k, 1024, 4), CudaKernel::kOneShotLL);  // past oneshot_max
  EXPECT_EQ(choose_cuda_kernel(one, k, 1025, 4), CudaKernel::kPipelined);
  const CudaSettings two = settings(1024, 512, CudaAllReduce::kTwoShot);
  EXPECT_EQ(choose_cuda_kernel(two, k, 8, 4), CudaKernel::kTwoShotLL);
  EXPECT_EQ(choose_cuda_kernel(two, k, 2048, 4), CudaKernel::kTwoShotLL);
  EXPECT_EQ(choose_cuda_kernel(two, k, 2049, 4), CudaKernel::kPipelined);
  const CudaSettings pipe = settings(1024, 512, CudaAllReduce::kPipelined);
  EXPECT_EQ(choose_cuda_kernel(pipe, k, 8, 4), CudaKernel::kPipelined);
}

TEST(ChooseCudaKernel, OtherKindsTakeOneShotLLOnlyIfTheyHaveIt) {
  // Forcing an allreduce algorithm does not change other kinds.
  for (auto forced : {CudaAllReduce::kAuto, CudaAllReduce::kTwoShot, CudaAllReduce::kPipelined}) {
    const CudaSettings s = settings(1024, 512, forced);
    for (auto kind : {CallKind::kReduceScatter, CallKind::kAllGather, CallKind::kAlltoAll}) {
      SCOPED_TRACE(call_name(kind));
      EXPECT_EQ(choose_cuda_kernel(s, kind, 8, 4), CudaKernel::kOneShotLL);
      EXPECT_EQ(choose_cuda_kernel(s, kind, 1024, 4), CudaKernel::kOneShotLL);
      EXPECT_EQ(choose_cuda_kernel(s, kind, 1025, 4), CudaKernel::kPipelined);
    }
    for (auto kind : {CallKind::kBroadcast, CallKind::kReduce, CallKind::kGather,
                      CallKind::kScatter, CallKind::kSend, CallKind::kRecv}) {
      SCOPED_TRACE(call_name(kind));
      EXPECT_EQ(choose_cuda_kernel(s, kind, 8, 4), CudaKernel::kPipelined);
    }
  }
}

TEST(CopyEngineEligible, AllGatherAndBroadcastFromTheThreshold) {
  CudaSettings s = settings(1024, 512, CudaAllReduce::kAuto);
  s.ce_min_bytes = 1 << 20;
  for (auto kind : {CallKind::kAllGather, CallKind::kBroadcast}) {
    EXPECT_TRUE(copy_engine_eligible(s, kind, 1 << 20));
    EXPECT_TRUE(copy_engine_eligible(s, kind, size_t(1) << 30));
    EXPECT_FALSE(copy_engine_eligible(s, kind, (1 << 20) - 1));
  }
  for (auto kind : {CallKind::kAllReduce, CallKind::kAlltoAll, CallKind::kReduceScatter,
                    CallKind::kReduce, CallKind::kGather, CallKind::kScatter})
    EXPECT_FALSE(copy_engine_eligible(s, kind, size_t(1) << 30)) << call_name(kind);
  s.ce_min_bytes = 0;  // off
  EXPECT_FALSE(copy_engine_eligible(s, CallKind::kAllGather, size_t(1) << 30));
}

}  // namespace
}  // namespace tdm::plan
