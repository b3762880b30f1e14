// Failure paths with real processes: this binary forks its own ranks (the
// parent holds the rendezvous), so ctest runs it without a launcher.
//   - a rank killed mid-collective: the others fail within TANDEM_TIMEOUT,
//     each naming the killed rank (not a rank that failed because of it)
//   - a rank that never joins: init fails on the others within the timeout
//   - a live rank that never calls the collective: a timeout error
//   - tdmCommAbort from another thread unblocks a waiting call
//   - bad arguments: the right code, nothing touched, a sentence; enum
//     arguments out of range as C passes them (enum_calls.c)
//   - stale handles: refused after their memory was reused
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "enum_calls.h"
#include "tandem/tandem.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Exit codes children report to the parent.
enum : int { kFailedInTime = 10, kSucceeded = 11, kTooSlow = 12, kInitFailed = 13 };

// Forks `nranks` children running body(rank, id); returns their exit codes
// (128+signal for a killed child). The children are forked first and read the
// id from a pipe: tdmGetUniqueId starts the rendezvous thread, and a child of
// a multi-threaded process that starts threads is beyond ThreadSanitizer (the
// tsan stage runs these tests).
std::vector<int> run_ranks(int nranks, const std::function<int(int, tdmUniqueId)>& body,
                           int ranks_that_join = -1) {
  std::vector<pid_t> pids;
  std::vector<int> id_pipes;
  for (int r = 0; r < (ranks_that_join < 0 ? nranks : ranks_that_join); ++r) {
    int fds[2];
    if (pipe(fds) != 0) ADD_FAILURE() << "pipe: " << std::strerror(errno);
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[1]);
      tdmUniqueId id;
      bool got = read(fds[0], &id, sizeof id) == ssize_t(sizeof id);
      close(fds[0]);
      std::fflush(stdout);
      _exit(got ? body(r, id) : int(kInitFailed));
    }
    close(fds[0]);
    pids.push_back(pid);
    id_pipes.push_back(fds[1]);
  }
  tdmUniqueId id;
  EXPECT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  for (int fd : id_pipes) {
    EXPECT_EQ(write(fd, &id, sizeof id), ssize_t(sizeof id));
    close(fd);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

class Failures : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("TANDEM_TIMEOUT", "5", 1); }
  void TearDown() override {
    ::unsetenv("TANDEM_TIMEOUT");
    ::unsetenv("TANDEM_SHM_DISABLE");
  }
};

// A rank SIGKILLs itself between large allreduces; the others must get an error fast.
void killed_peer_case() {
  auto codes = run_ranks(3, [](int rank, tdmUniqueId id) {
    tdmComm_t comm;
    if (tdmCommInitRank(&comm, 3, id, rank) != tdmSuccess) return int(kInitFailed);
    std::vector<float> a(1 << 21, 1.0f), b(a.size());
    for (int i = 0; i < 50; ++i) {
      if (rank == 2 && i == 3) raise(SIGKILL);
      auto start = Clock::now();
      tdmResult_t rc =
          tdmAllReduce(a.data(), b.data(), a.size(), tdmFloat32, tdmSum, comm, nullptr);
      if (rc != tdmSuccess) {
        tdmResult_t async = tdmSuccess;
        tdmCommGetAsyncError(comm, &async);
        bool explained = std::strlen(tdmGetLastError(comm)) > 0;
        std::printf("rank %d: %s (after %.2f s)\n", rank, tdmGetLastError(comm),
                    seconds_since(start));
        bool fast = seconds_since(start) < 5 + 1;
        return rc == tdmRemoteError && async != tdmSuccess && explained && fast ? int(kFailedInTime)
                                                                                : int(kTooSlow);
      }
    }
    return int(kSucceeded);
  });
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0], kFailedInTime);
  EXPECT_EQ(codes[1], kFailedInTime);
  EXPECT_EQ(codes[2], 128 + SIGKILL);
}

TEST_F(Failures, KilledPeerOverSharedMemory) { killed_peer_case(); }

TEST_F(Failures, KilledPeerOverSockets) {
  ::setenv("TANDEM_SHM_DISABLE", "1", 1);
  killed_peer_case();
}

// The ranks a sentence names ("rank 3"), in order.
std::vector<int> ranks_named(const std::string& text) {
  std::vector<int> ranks;
  for (size_t at = text.find("rank "); at != std::string::npos; at = text.find("rank ", at + 1)) {
    const char* digits = text.c_str() + at + 5;
    if (*digits >= '0' && *digits <= '9') ranks.push_back(std::atoi(digits));
  }
  return ranks;
}

// 4 ranks, rank 2 SIGKILLs itself between allreduces. A survivor waiting on
// rank 3 sees rank 3 go (it exits after failing because of rank 2); every
// survivor must still name rank 2 and no other rank. Five runs per transport
// (which rank notices first varies), each its own test: one run_ranks per
// test process, as ThreadSanitizer reports ranks forked from a process with
// an earlier run's finished, unjoined rendezvous thread as leaking it.
class KilledPeerNamed : public Failures,
                        public ::testing::WithParamInterface<std::tuple<bool, int>> {};

TEST_P(KilledPeerNamed, ByEverySurvivor) {
  if (std::get<0>(GetParam())) ::setenv("TANDEM_SHM_DISABLE", "1", 1);
  constexpr int kRanks = 4, kKilled = 2;
  auto codes = run_ranks(kRanks, [](int rank, tdmUniqueId id) {
    tdmComm_t comm;
    if (tdmCommInitRank(&comm, kRanks, id, rank) != tdmSuccess) return int(kInitFailed);
    std::vector<float> a(1 << 18, 1.0f), b(a.size());
    for (int i = 0; i < 1000; ++i) {
      if (rank == kKilled && i == 5) raise(SIGKILL);
      auto start = Clock::now();
      if (tdmAllReduce(a.data(), b.data(), a.size(), tdmFloat32, tdmSum, comm, nullptr) ==
          tdmSuccess)
        continue;
      const std::string text = tdmGetLastError(comm);
      std::printf("rank %d: %s (after %.2f s)\n", rank, text.c_str(), seconds_since(start));
      std::fflush(stdout);
      const bool named = ranks_named(text) == std::vector<int>{kKilled};
      return named && seconds_since(start) < 5 + 1 ? int(kFailedInTime) : int(kTooSlow);
    }
    return int(kSucceeded);
  });
  EXPECT_EQ(codes, (std::vector<int>{kFailedInTime, kFailedInTime, 128 + SIGKILL, kFailedInTime}));
}

INSTANTIATE_TEST_SUITE_P(Failures, KilledPeerNamed,
                         ::testing::Combine(::testing::Bool(), ::testing::Range(0, 5)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "Sockets"
                                                                      : "SharedMemory") +
                                  "_run" + std::to_string(std::get<1>(info.param));
                         });

TEST_F(Failures, RankThatNeverJoinsFailsInitWithinTheTimeout) {
  auto codes = run_ranks(
      3,
      [](int rank, tdmUniqueId id) {
        auto start = Clock::now();
        tdmComm_t comm;
        tdmResult_t rc = tdmCommInitRank(&comm, 3, id, rank);
        if (rc == tdmSuccess) return int(kSucceeded);
        bool says_missing =
            std::string(tdmGetLastError(nullptr)).find("missing ranks: 2") != std::string::npos;
        return says_missing && seconds_since(start) < 5 + 3 ? int(kFailedInTime) : int(kTooSlow);
      },
      /*ranks_that_join=*/2);
  EXPECT_EQ(codes, (std::vector<int>{kFailedInTime, kFailedInTime}));
}

TEST_F(Failures, LiveRankThatSkipsTheCollectiveGivesATimeout) {
  auto codes = run_ranks(2, [](int rank, tdmUniqueId id) {
    tdmComm_t comm;
    if (tdmCommInitRank(&comm, 2, id, rank) != tdmSuccess) return int(kInitFailed);
    if (rank == 1) {
      std::this_thread::sleep_for(std::chrono::seconds(8));  // alive, but never calls
      return int(kSucceeded);
    }
    float x = 1, y = 0;
    auto start = Clock::now();
    tdmResult_t rc = tdmAllReduce(&x, &y, 1, tdmFloat32, tdmSum, comm, nullptr);
    bool timed_out = rc == tdmRemoteError &&
                     std::string(tdmGetLastError(comm)).find("TANDEM_TIMEOUT") != std::string::npos;
    double took = seconds_since(start);
    return timed_out && took >= 4.5 && took < 5 + 2 ? int(kFailedInTime) : int(kTooSlow);
  });
  EXPECT_EQ(codes, (std::vector<int>{kFailedInTime, kSucceeded}));
}

TEST_F(Failures, AbortFromAnotherThreadUnblocksAWaitingCall) {
  ::setenv("TANDEM_TIMEOUT", "60", 1);
  auto codes = run_ranks(2, [](int rank, tdmUniqueId id) {
    tdmComm_t comm;
    if (tdmCommInitRank(&comm, 2, id, rank) != tdmSuccess) return int(kInitFailed);
    if (rank == 1) {
      std::this_thread::sleep_for(std::chrono::seconds(3));
      return int(kSucceeded);
    }
    std::vector<float> a(1 << 20, 1.0f), b(a.size());
    std::thread aborter([comm] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      tdmCommAbort(comm);
    });
    auto start = Clock::now();
    tdmResult_t rc = tdmAllReduce(a.data(), b.data(), a.size(), tdmFloat32, tdmSum, comm, nullptr);
    double took = seconds_since(start);
    aborter.join();
    // The handle is gone after abort: using it again is an error, not a crash.
    int count = 0;
    bool handle_dead = tdmCommCount(comm, &count) == tdmInvalidArgument;
    return rc != tdmSuccess && took < 2 && handle_dead ? int(kFailedInTime) : int(kTooSlow);
  });
  EXPECT_EQ(codes, (std::vector<int>{kFailedInTime, kSucceeded}));
}

// ---- argument errors: one process, one rank ----

class BadArguments : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(tdmCommInitAll(&comm_, 1, nullptr), tdmSuccess); }
  void TearDown() override {
    if (comm_) tdmCommDestroy(comm_);
  }
  // Expects `code` with a sentence, and `out` untouched.
  void expect(tdmResult_t got, tdmResult_t code, const char* what) {
    EXPECT_EQ(got, code) << what;
    EXPECT_GT(std::strlen(tdmGetLastError(comm_)), 10u) << what;
    for (float v : out_) ASSERT_EQ(v, -1.0f) << what << " changed the output";
  }
  tdmComm_t comm_ = nullptr;
  std::vector<float> in_ = std::vector<float>(64, 3.0f);
  std::vector<float> out_ = std::vector<float>(64, -1.0f);
};

TEST_F(BadArguments, EachIsRefusedWithASentenceAndChangesNothing) {
  float* in = in_.data();
  float* out = out_.data();
  expect(tdmAllReduce(in, out, 64, tdmFloat32, tdmSum, nullptr, nullptr), tdmInvalidArgument,
         "null comm");
  expect(tdmAllReduce(nullptr, out, 64, tdmFloat32, tdmSum, comm_, nullptr), tdmInvalidArgument,
         "null sendbuff");
  expect(tdmAllReduce(in, nullptr, 64, tdmFloat32, tdmSum, comm_, nullptr), tdmInvalidArgument,
         "null recvbuff");
  expect(tdmAllReduce(in, out, 64, tdmDataType_t(12), tdmSum, comm_, nullptr), tdmInvalidArgument,
         "bad dtype");
  expect(tdmAllReduce(in, out, 64, tdmDataType_t(-1), tdmSum, comm_, nullptr), tdmInvalidArgument,
         "negative dtype");
  expect(tdmAllReduce(in, out, 64, tdmFloat32, tdmRedOp_t(17), comm_, nullptr), tdmInvalidArgument,
         "bad op");
  expect(tdmBroadcast(in, out, 64, tdmFloat32, 1, comm_, nullptr), tdmInvalidArgument, "bad root");
  expect(tdmReduce(in, out, 64, tdmFloat32, tdmSum, -1, comm_, nullptr), tdmInvalidArgument,
         "negative root");
  expect(tdmSend(in, 64, tdmFloat32, 3, comm_, nullptr), tdmInvalidArgument, "bad peer");
  expect(tdmAllReduce(in, out, SIZE_MAX / 2, tdmFloat32, tdmSum, comm_, nullptr),
         tdmInvalidArgument, "count overflow");
  expect(tdmAllReduce(out_.data() + 1, out, 32, tdmFloat32, tdmSum, comm_, nullptr),
         tdmInvalidArgument, "partial overlap");
  expect(tdmAllGather(out_.data() + 1, out, 32, tdmFloat32, comm_, nullptr), tdmInvalidArgument,
         "allgather overlap that is not in place");
  expect(tdmAllReduce(in, out, 64, tdmFloat32, tdmSum, comm_, reinterpret_cast<cudaStream_t>(8)),
         tdmInvalidUsage, "stream with host buffers");
  // Premulsum op: wrong dtype, then used after destroy.
  tdmRedOp_t op;
  float scalar = 2.0f;
  ASSERT_EQ(tdmRedOpCreatePreMulSum(&op, &scalar, tdmFloat32, tdmScalarHostImmediate, comm_),
            tdmSuccess);
  expect(tdmAllReduce(in, out, 64, tdmFloat64, op, comm_, nullptr), tdmInvalidArgument,
         "op of another dtype");
  ASSERT_EQ(tdmRedOpDestroy(op, comm_), tdmSuccess);
  expect(tdmAllReduce(in, out, 64, tdmFloat32, op, comm_, nullptr), tdmInvalidArgument,
         "destroyed op");
  expect(tdmRedOpDestroy(op, comm_), tdmInvalidArgument, "op destroyed twice");
  // A group with a bad call inside is refused as a whole.
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  EXPECT_EQ(tdmAllReduce(in, out, 64, tdmFloat32, tdmSum, comm_, nullptr), tdmSuccess);
  EXPECT_EQ(tdmAllReduce(in, out, 64, tdmDataType_t(99), tdmSum, comm_, nullptr),
            tdmInvalidArgument);
  expect(tdmGroupEnd(), tdmInvalidUsage, "group with a bad call");
  expect(tdmGroupEnd(), tdmInvalidUsage, "group end without start");
  // Bad init arguments.
  tdmComm_t other;
  tdmUniqueId garbage{};
  expect(tdmCommInitRank(&other, 2, garbage, 0), tdmInvalidArgument, "garbage unique id");
  expect(tdmCommInitRank(&other, 0, garbage, 0), tdmInvalidArgument, "zero ranks");
  expect(tdmCommInitRank(&other, 2, garbage, 2), tdmInvalidArgument, "rank out of range");
  tdmConfig_t config{};
  expect(tdmCommSplit(comm_, 0, 0, &other, &config), tdmInvalidArgument, "uninitialized config");
  // Use after destroy.
  ASSERT_EQ(tdmCommDestroy(comm_), tdmSuccess);
  expect(tdmAllReduce(in, out, 64, tdmFloat32, tdmSum, comm_, nullptr), tdmInvalidArgument,
         "use after destroy");
  comm_ = nullptr;
}

// Every enum parameter of the API, with ints outside its enumerators as a C
// caller may pass them: refused with a sentence, outputs untouched. The asan
// stage builds with UBSan's enum check, which reports such a value loaded as
// the enum inside the library.
TEST_F(BadArguments, EnumArgumentsOutOfRangeAreRefused) {
  for (int index = 0; index < enum_call_count(); ++index) {
    for (int value : {77, -1, INT_MAX, INT_MIN, 12}) {
      SCOPED_TRACE(std::string(enum_call_name(index)) + " = " + std::to_string(value));
      // 12 is tdmNumTypes but a live user op number; -1 etc. are nothing.
      if (value == 12 && std::string(enum_call_name(index)).find(" op") != std::string::npos)
        continue;
      auto op = tdmRedOp_t(123);
      expect(tdmResult_t(enum_call(index, value, comm_, in_.data(), out_.data(), 64, &op)),
             tdmInvalidArgument, enum_call_name(index));
      EXPECT_NE(std::string(tdmGetLastError(comm_)).find(std::to_string(value)), std::string::npos)
          << "the sentence names the value: " << tdmGetLastError(comm_);
      EXPECT_EQ(op, tdmRedOp_t(123)) << "op output changed";
    }
  }
  for (int value : {77, -1, INT_MAX, int(tdmNumResults)})
    EXPECT_STREQ(error_string_of(value), "unknown result code") << value;
}

TEST_F(BadArguments, RedOpDestroyNamesWhatIsWrongWithTheOp) {
  EXPECT_EQ(enum_call(16, -1, comm_, nullptr, nullptr, 0, nullptr), tdmInvalidArgument);
  const std::string negative = tdmGetLastError(comm_);
  EXPECT_NE(negative.find("is not a tdmRedOp_t"), std::string::npos) << negative;
  EXPECT_EQ(negative.find("built in"), std::string::npos) << negative;
  EXPECT_EQ(tdmRedOpDestroy(tdmAvg, comm_), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(comm_)).find("built in"), std::string::npos);
  EXPECT_EQ(tdmRedOpDestroy(tdmRedOp_t(99), comm_), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(comm_)).find("not a live op"), std::string::npos);
}

// A destroyed communicator's handle stays an error after 50 destroy/create
// pairs (its memory was reused within a few), and using it changes nothing
// of the communicator created last.
TEST(Handles, StaleCommHandleIsRefusedAfterDestroyCreatePairs) {
  std::vector<tdmComm_t> handles(1);
  ASSERT_EQ(tdmCommInitAll(&handles[0], 1, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(tdmCommDestroy(handles.back()), tdmSuccess) << tdmGetLastError(nullptr);
    handles.emplace_back();
    ASSERT_EQ(tdmCommInitAll(&handles.back(), 1, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  }
  const tdmComm_t live = handles.back();
  handles.pop_back();
  std::vector<float> in(64, 3.0f), out(64, -1.0f);
  for (tdmComm_t stale : handles) {
    ASSERT_NE(stale, live) << "a handle was given out twice";
    int count = -1;
    EXPECT_EQ(tdmCommCount(stale, &count), tdmInvalidArgument);
    EXPECT_EQ(count, -1);
    EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("not a live communicator"),
              std::string::npos)
        << tdmGetLastError(nullptr);
    EXPECT_EQ(tdmAllReduce(in.data(), out.data(), 64, tdmFloat32, tdmSum, stale, nullptr),
              tdmInvalidArgument);
    for (float v : out) ASSERT_EQ(v, -1.0f) << "use of a stale handle wrote the output";
    EXPECT_EQ(tdmCommDestroy(stale), tdmInvalidArgument);
    EXPECT_EQ(tdmCommAbort(stale), tdmInvalidArgument);
  }
  // The live one was not destroyed through any stale handle.
  int count = 0;
  ASSERT_EQ(tdmCommCount(live, &count), tdmSuccess) << tdmGetLastError(nullptr);
  EXPECT_EQ(count, 1);
  ASSERT_EQ(tdmAllReduce(in.data(), out.data(), 64, tdmFloat32, tdmSum, live, nullptr), tdmSuccess)
      << tdmGetLastError(nullptr);
  for (float v : out) ASSERT_EQ(v, 3.0f);
  EXPECT_EQ(tdmCommDestroy(live), tdmSuccess);
}

// A group's call on a communicator destroyed before tdmGroupEnd does not run
// on a communicator created after it (one may reuse its memory, though the
// allocator does not always: this test can pass by luck on a check by address).
TEST(Handles, GroupRefusesACommunicatorDestroyedBeforeItsEnd) {
  tdmComm_t first = nullptr;
  ASSERT_EQ(tdmCommInitAll(&first, 1, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  std::vector<float> in(64, 3.0f), out(64, -1.0f);
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  ASSERT_EQ(tdmAllReduce(in.data(), out.data(), 64, tdmFloat32, tdmSum, first, nullptr),
            tdmSuccess);
  ASSERT_EQ(tdmCommDestroy(first), tdmSuccess) << tdmGetLastError(nullptr);
  std::vector<tdmComm_t> later(20);
  for (tdmComm_t& c : later)
    ASSERT_EQ(tdmCommInitAll(&c, 1, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  EXPECT_EQ(tdmGroupEnd(), tdmInvalidArgument);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("destroyed before its group ran"),
            std::string::npos)
      << tdmGetLastError(nullptr);
  for (float v : out) ASSERT_EQ(v, -1.0f) << "the group ran";
  // The new communicators are untouched and work.
  for (tdmComm_t c : later) {
    ASSERT_EQ(tdmAllReduce(in.data(), out.data(), 64, tdmFloat32, tdmSum, c, nullptr), tdmSuccess)
        << tdmGetLastError(nullptr);
    EXPECT_EQ(tdmCommDestroy(c), tdmSuccess);
  }
}

TEST(Groups, CommInitAllWithGroupedCollectivesFromOneThread) {
  constexpr int kRanks = 4;
  tdmComm_t comms[kRanks];
  ASSERT_EQ(tdmCommInitAll(comms, kRanks, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  std::vector<std::vector<double>> in(kRanks), out(kRanks);
  const size_t count = 300001;
  for (int r = 0; r < kRanks; ++r) {
    in[r].resize(count);
    out[r].assign(count, -1);
    for (size_t i = 0; i < count; ++i) in[r][i] = double(r * 1000 + i % 997);
  }
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  for (int r = 0; r < kRanks; ++r)
    ASSERT_EQ(
        tdmAllReduce(in[r].data(), out[r].data(), count, tdmFloat64, tdmSum, comms[r], nullptr),
        tdmSuccess);
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(nullptr);
  for (int r = 0; r < kRanks; ++r)
    for (size_t i = 0; i < count; i += 101)
      ASSERT_EQ(out[r][i], 6000.0 + 4.0 * double(i % 997)) << "rank " << r << " element " << i;
  for (tdmComm_t c : comms) EXPECT_EQ(tdmCommDestroy(c), tdmSuccess);
}

}  // namespace
