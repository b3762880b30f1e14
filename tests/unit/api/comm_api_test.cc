// The communicator calls added for NCCL 2.28's API (api/comm_api.cc): the
// config read by its size, non-blocking init, tdmCommInitRankScalable,
// tdmCommShrink, and tdmGroupSimulateEnd. Ranks are threads of this process.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/scoped_env.h"

namespace {

using tdm::testing::ScopedEnv;

// Polls a non-blocking communicator until its init is over.
tdmResult_t wait_init(tdmComm_t comm) {
  tdmResult_t state = tdmInProgress;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (state == tdmInProgress && std::chrono::steady_clock::now() < give_up) {
    if (tdmCommGetAsyncError(comm, &state) != tdmSuccess) return tdmInternalError;
    if (state == tdmInProgress) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return state;
}

// Sums of random ints over the comms (one per rank, from one thread in a
// group), checked against a sum computed here.
void expect_allreduce(const std::vector<tdmComm_t>& comms) {
  const size_t n = 1000;
  std::mt19937 rng(std::random_device{}());
  std::vector<std::vector<int32_t>> send(comms.size(), std::vector<int32_t>(n));
  std::vector<std::vector<int32_t>> recv(comms.size(), std::vector<int32_t>(n, -7));
  std::vector<int64_t> expected(n, 0);
  for (auto& v : send)
    for (size_t i = 0; i < n; ++i) {
      v[i] = static_cast<int32_t>(rng() % 1000);
      expected[i] += v[i];
    }
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  for (size_t r = 0; r < comms.size(); ++r)
    ASSERT_EQ(tdmAllReduce(send[r].data(), recv[r].data(), n, tdmInt32, tdmSum, comms[r], nullptr),
              tdmSuccess)
        << tdmGetLastError(nullptr);
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(nullptr);
  for (size_t r = 0; r < comms.size(); ++r)
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(recv[r][i], expected[i]) << "rank " << r << " i " << i;
}

// A config of another header version: `size` bytes of a tdmConfig_t-shaped
// struct, whatever lies beyond this header's struct set to `tail_byte`.
struct SizedConfig {
  alignas(tdmConfig_t) std::byte bytes[128];
  SizedConfig(size_t size, unsigned char tail_byte) {
    std::memset(bytes, tail_byte, sizeof bytes);
    tdmConfig_t config = TDM_CONFIG_INITIALIZER;
    config.size = size;
    std::memcpy(bytes, &config, std::min(size, sizeof config));
  }
  tdmConfig_t* get() { return reinterpret_cast<tdmConfig_t*>(bytes); }
};

tdmResult_t init_one(tdmConfig_t* config, tdmComm_t* comm) {
  tdmUniqueId id;
  if (tdmGetUniqueId(&id) != tdmSuccess) return tdmInternalError;
  return tdmCommInitRankConfig(comm, 1, id, 0, config);
}

TEST(ConfigBySize, FieldsBeyondTheCallersSizeAreNotRead) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  // 72 bytes (NCCL 2.27): nChannelsPerNetPeer and nvlinkCentricSched lie past
  // the caller's struct; garbage there must not be read.
  ASSERT_EQ(offsetof(tdmConfig_t, nChannelsPerNetPeer), 72u);
  SizedConfig short_config(72, 0x5a);
  tdmComm_t comm = nullptr;
  ASSERT_EQ(init_one(short_config.get(), &comm), tdmSuccess) << tdmGetLastError(nullptr);
  EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
  // The same bytes inside an 80-byte struct are read, and refused.
  SizedConfig full(80, 0x5a);
  std::memset(full.bytes + offsetof(tdmConfig_t, nvlinkCentricSched), 0x5a, sizeof(int));
  EXPECT_EQ(init_one(full.get(), &comm), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("nvlinkCentricSched"), std::string::npos)
      << tdmGetLastError(nullptr);
  // 96 bytes (a newer header): what follows this header's struct is ignored.
  SizedConfig long_config(96, 0x5a);
  ASSERT_EQ(init_one(long_config.get(), &comm), tdmSuccess) << tdmGetLastError(nullptr);
  EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
  // Too short for any version, or not initialized.
  SizedConfig tiny(40, 0);
  EXPECT_EQ(init_one(tiny.get(), &comm), tdmInvalidArgument);
  SizedConfig bad_magic(80, 0);
  bad_magic.get()->magic = 0;
  EXPECT_EQ(init_one(bad_magic.get(), &comm), tdmInvalidArgument);
}

TEST(NonBlocking, RanksInitializedFromOneThread) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  tdmUniqueId id;
  ASSERT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  tdmConfig_t config = TDM_CONFIG_INITIALIZER;
  config.blocking = 0;
  std::vector<tdmComm_t> comms(2, nullptr);
  // Blocking inits from one thread would wait for each other forever.
  for (int r = 0; r < 2; ++r)
    ASSERT_EQ(tdmCommInitRankConfig(&comms[r], 2, id, r, &config), tdmInProgress)
        << tdmGetLastError(nullptr);
  for (tdmComm_t comm : comms) ASSERT_EQ(wait_init(comm), tdmSuccess) << tdmGetLastError(nullptr);
  for (int r = 0; r < 2; ++r) {
    int rank = -1, count = 0;
    EXPECT_EQ(tdmCommUserRank(comms[r], &rank), tdmSuccess);
    EXPECT_EQ(tdmCommCount(comms[r], &count), tdmSuccess);
    EXPECT_EQ(rank, r);
    EXPECT_EQ(count, 2);
  }
  expect_allreduce(comms);
  for (tdmComm_t comm : comms) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
}

TEST(NonBlocking, CallsWaitForTheInitAndAFailureIsReported) {
  // Environment set before any init thread starts, restored after they end.
  ScopedEnv env("TANDEM_TIMEOUT", "2");
  env.set("TANDEM_DEBUG", "bogus");  // read at init: this init fails
  tdmConfig_t config = TDM_CONFIG_INITIALIZER;
  config.blocking = 0;
  tdmUniqueId id;
  ASSERT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  tdmComm_t failed = nullptr;
  ASSERT_EQ(tdmCommInitRankConfig(&failed, 1, id, 0, &config), tdmInProgress);
  EXPECT_EQ(wait_init(failed), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("TANDEM_DEBUG"), std::string::npos)
      << tdmGetLastError(nullptr);
  int count = 0;
  EXPECT_EQ(tdmCommCount(failed, &count), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("non-blocking init failed"),
            std::string::npos)
      << tdmGetLastError(nullptr);
  EXPECT_EQ(tdmCommDestroy(failed), tdmSuccess);
  EXPECT_EQ(tdmCommDestroy(failed), tdmInvalidArgument);  // gone
  env.set("TANDEM_DEBUG", "WARN");

  // Rank 1 never comes: rank 0's init stays in progress until the timeout.
  ASSERT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  tdmComm_t comm = nullptr;
  ASSERT_EQ(tdmCommInitRankConfig(&comm, 2, id, 0, &config), tdmInProgress);
  tdmResult_t state = tdmSuccess;
  ASSERT_EQ(tdmCommGetAsyncError(comm, &state), tdmSuccess);
  EXPECT_EQ(state, tdmInProgress);
  EXPECT_EQ(tdmCommCount(comm, &count), tdmInvalidUsage);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("still being created"), std::string::npos)
      << tdmGetLastError(nullptr);
  // Abort waits for the init's outcome (here, the timeout) and frees it.
  EXPECT_EQ(tdmCommAbort(comm), tdmSuccess);
  EXPECT_EQ(tdmCommCount(comm, &count), tdmInvalidArgument);
}

TEST(InitRankScalable, SeveralIdsFormOneCommunicator) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  std::vector<tdmUniqueId> ids(3);
  for (auto& id : ids) ASSERT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  std::vector<tdmComm_t> comms(2, nullptr);
  std::vector<tdmResult_t> results(2, tdmInternalError);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back(
        [&, r] { results[r] = tdmCommInitRankScalable(&comms[r], 2, r, 3, ids.data(), nullptr); });
  for (auto& t : threads) t.join();
  for (tdmResult_t result : results) ASSERT_EQ(result, tdmSuccess);
  expect_allreduce(comms);
  for (tdmComm_t comm : comms) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);

  tdmComm_t comm = nullptr;
  EXPECT_EQ(tdmCommInitRankScalable(&comm, 1, 0, 0, ids.data(), nullptr), tdmInvalidArgument);
  EXPECT_EQ(tdmCommInitRankScalable(&comm, 1, 0, 1, nullptr, nullptr), tdmInvalidArgument);
  tdmUniqueId garbage;
  std::memset(&garbage, 0x33, sizeof garbage);
  ids[2] = garbage;
  EXPECT_EQ(tdmCommInitRankScalable(&comm, 1, 0, 3, ids.data(), nullptr), tdmInvalidArgument);
}

TEST(Shrink, RemainingRanksFormACommunicatorWithoutTheExcluded) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  std::vector<tdmComm_t> parent(4, nullptr);
  ASSERT_EQ(tdmCommInitAll(parent.data(), 4, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  int exclude[] = {1, 3};
  tdmComm_t unused = nullptr;
  // An excluded rank does not call; bad arguments fail before any peer is involved.
  EXPECT_EQ(tdmCommShrink(parent[1], exclude, 2, &unused, nullptr, TDM_SHRINK_DEFAULT),
            tdmInvalidArgument);
  EXPECT_EQ(tdmCommShrink(parent[0], exclude, 2, &unused, nullptr, 7), tdmInvalidArgument);
  int out_of_range[] = {4};
  EXPECT_EQ(tdmCommShrink(parent[0], out_of_range, 1, &unused, nullptr, TDM_SHRINK_DEFAULT),
            tdmInvalidArgument);
  // Ranks 0 and 2 shrink (1 and 3 never call); rank 2 becomes rank 1.
  std::vector<tdmComm_t> shrunk(2, nullptr);
  std::vector<tdmResult_t> results(2, tdmInternalError);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      results[i] =
          tdmCommShrink(parent[2 * i], exclude, 2, &shrunk[i], nullptr, TDM_SHRINK_DEFAULT);
    });
  for (auto& t : threads) t.join();
  for (tdmResult_t result : results) ASSERT_EQ(result, tdmSuccess);
  for (int i = 0; i < 2; ++i) {
    int rank = -1, count = 0;
    EXPECT_EQ(tdmCommUserRank(shrunk[i], &rank), tdmSuccess);
    EXPECT_EQ(tdmCommCount(shrunk[i], &count), tdmSuccess);
    EXPECT_EQ(rank, i);
    EXPECT_EQ(count, 2);
  }
  expect_allreduce(shrunk);
  for (tdmComm_t comm : shrunk) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
  for (tdmComm_t comm : parent) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
}

TEST(GroupSimulateEnd, ClosesTheGroupWithoutRunningIt) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  tdmComm_t comm = nullptr;
  ASSERT_EQ(init_one(nullptr, &comm), tdmSuccess);
  std::vector<float> send(64, 1.5f), recv(64, -3.0f);
  tdmSimInfo_t info = TDM_SIM_INFO_INITIALIZER;
  info.estimatedTime = 42.0f;
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  ASSERT_EQ(tdmAllReduce(send.data(), recv.data(), 64, tdmFloat32, tdmSum, comm, nullptr),
            tdmSuccess);
  ASSERT_EQ(tdmGroupSimulateEnd(&info), tdmSuccess) << tdmGetLastError(nullptr);
  EXPECT_EQ(info.estimatedTime, TDM_UNDEF_FLOAT);
  for (float v : recv) ASSERT_EQ(v, -3.0f);   // nothing ran
  EXPECT_EQ(tdmGroupEnd(), tdmInvalidUsage);  // the group is closed
  EXPECT_EQ(tdmGroupSimulateEnd(nullptr), tdmInvalidUsage);
  tdmSimInfo_t bad = TDM_SIM_INFO_INITIALIZER;
  bad.magic = 1;
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  EXPECT_EQ(tdmGroupSimulateEnd(&bad), tdmInvalidArgument);
  EXPECT_EQ(tdmGroupSimulateEnd(nullptr), tdmSuccess);  // the group was still open
  // The communicator still works: the dropped call left nothing behind.
  ASSERT_EQ(tdmAllReduce(send.data(), recv.data(), 64, tdmFloat32, tdmSum, comm, nullptr),
            tdmSuccess);
  for (float v : recv) ASSERT_EQ(v, 1.5f);
  EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
}

}  // namespace
