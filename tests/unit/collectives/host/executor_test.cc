// The executor's failure paths (collectives/host/executor.h) on ranks that
// are threads with shared-memory links: a peer that never takes part fails
// the call at TANDEM_TIMEOUT, a peer that went away fails it without waiting
// for the timeout, and the abort flag fails it at once. Never a hang: the
// bounds below are far above what each path needs.
#include "collectives/host/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "collectives/host/plans.h"
#include "tests/common/scoped_env.h"
#include "tests/common/thread_team.h"
#include "util/error.h"

namespace tdm::host {
namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
  tdmResult_t code = tdmSuccess;
  std::string text;
  double seconds = 0;
};

// Rank 0 runs an allreduce (one-shot: it must hear from rank 1); rank 1 runs
// `other` instead. Returns what rank 0's call did.
template <typename F>
Outcome allreduce_against(F other) {
  Outcome outcome;
  std::atomic<bool> rank0_done{false};
  auto errors = testing::with_teams({2, 4096, {}, {}}, [&](int rank, plan::Team& team) {
    if (rank == 1) {
      other(team, rank0_done);
      return;
    }
    std::vector<float> data(1000, 1.f);
    plan::Call call;
    call.team = &team;
    call.kind = plan::CallKind::kAllReduce;
    call.type = tdmFloat32;
    call.count = data.size();
    call.send = data.data();
    call.recv = data.data();
    std::vector<std::vector<plan::Plan>> queues(1);
    queues[0].push_back(build_collective(call));
    const auto start = Clock::now();
    try {
      execute(queues);
    } catch (const Error& e) {
      outcome.code = e.code();
      outcome.text = e.what();
    }
    outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    rank0_done = true;
  });
  testing::expect_no_errors(errors);
  return outcome;
}

void wait_for(const std::atomic<bool>& flag) {
  while (!flag) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

TEST(Executor, SilentPeerFailsAtTheTimeout) {
  testing::ScopedEnv env("TANDEM_TIMEOUT", "1");
  // Rank 1 stays (its bootstrap open) but never calls.
  Outcome o = allreduce_against([](plan::Team&, std::atomic<bool>& done) { wait_for(done); });
  EXPECT_EQ(o.code, tdmRemoteError) << o.text;
  EXPECT_NE(o.text.find("no progress for TANDEM_TIMEOUT"), std::string::npos) << o.text;
  EXPECT_GE(o.seconds, 1.0);  // not before the timeout
  EXPECT_LT(o.seconds, 30.0);
}

TEST(Executor, PeerThatLeftFailsBeforeTheTimeout) {
  testing::ScopedEnv env("TANDEM_TIMEOUT", "20");
  // Rank 1 returns at once: its team (bootstrap and links) is destroyed.
  Outcome o = allreduce_against([](plan::Team&, std::atomic<bool>&) {});
  EXPECT_EQ(o.code, tdmRemoteError) << o.text;
  EXPECT_NE(o.text.find("rank 1 went away"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("of communicator test team"), std::string::npos) << o.text;
  EXPECT_LT(o.seconds, 30.0);
}

TEST(Executor, AbortFlagFailsTheCallAtOnce) {
  testing::ScopedEnv env("TANDEM_TIMEOUT", "20");
  std::atomic<plan::Team*> rank0{nullptr};
  std::atomic<bool> started{false};
  Outcome outcome;
  std::atomic<bool> rank0_done{false};
  auto errors = testing::with_teams({2, 4096, {}, {}}, [&](int rank, plan::Team& team) {
    if (rank == 1) {
      // Stay silent; abort rank 0's team once its call is running.
      wait_for(started);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      rank0.load()->abort = true;
      wait_for(rank0_done);
      return;
    }
    std::vector<float> data(1000, 1.f);
    plan::Call call;
    call.team = &team;
    call.kind = plan::CallKind::kAllReduce;
    call.type = tdmFloat32;
    call.count = data.size();
    call.send = data.data();
    call.recv = data.data();
    std::vector<std::vector<plan::Plan>> queues(1);
    queues[0].push_back(build_collective(call));
    rank0 = &team;
    started = true;
    const auto start = Clock::now();
    try {
      execute(queues);
    } catch (const Error& e) {
      outcome.code = e.code();
      outcome.text = e.what();
    }
    outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    rank0_done = true;
  });
  testing::expect_no_errors(errors);
  EXPECT_EQ(outcome.code, tdmInvalidUsage) << outcome.text;
  EXPECT_NE(outcome.text.find("aborted"), std::string::npos) << outcome.text;
  EXPECT_LT(outcome.seconds, 30.0);
}

}  // namespace
}  // namespace tdm::host
