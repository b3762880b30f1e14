// Group semantics (comm/group.h) through the public API, with communicators
// that are threads of this process (tdmCommInitAll): nesting runs only at the
// outermost tdmGroupEnd, tdmGroupEnd without tdmGroupStart is an error, a
// call that fails inside a group discards the whole group, and grouped
// send/recv pairs complete whatever the pairing.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/scoped_env.h"

namespace {

using tdm::testing::ScopedEnv;

class Group : public ::testing::Test {
 protected:
  // A hang would be a failure: every wait gives up after 60 s.
  ScopedEnv env_{"TANDEM_TIMEOUT", "60"};

  std::vector<tdmComm_t> init_all(int n) {
    std::vector<tdmComm_t> comms(static_cast<size_t>(n), nullptr);
    EXPECT_EQ(tdmCommInitAll(comms.data(), n, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
    return comms;
  }
  void destroy(const std::vector<tdmComm_t>& comms) {
    for (tdmComm_t comm : comms) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
  }
};

TEST_F(Group, EndWithoutStartIsAnError) {
  EXPECT_EQ(tdmGroupEnd(), tdmInvalidUsage);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("without a matching tdmGroupStart"),
            std::string::npos)
      << tdmGetLastError(nullptr);
  // Balanced groups still work afterwards, and one more End is again an error.
  EXPECT_EQ(tdmGroupStart(), tdmSuccess);
  EXPECT_EQ(tdmGroupEnd(), tdmSuccess);
  EXPECT_EQ(tdmGroupEnd(), tdmInvalidUsage);
}

TEST_F(Group, NestedGroupsRunAtTheOutermostEnd) {
  auto comms = init_all(2);
  std::vector<float> sent(1000), received(1000, -1.f);
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = float(i) * 0.5f;
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  ASSERT_EQ(tdmSend(sent.data(), sent.size(), tdmFloat32, 1, comms[0], nullptr), tdmSuccess);
  ASSERT_EQ(tdmRecv(received.data(), received.size(), tdmFloat32, 0, comms[1], nullptr),
            tdmSuccess);
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess);
  EXPECT_EQ(received, std::vector<float>(1000, -1.f)) << "ran at the inner tdmGroupEnd";
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess);
  EXPECT_EQ(received, sent);
  destroy(comms);
}

TEST_F(Group, AFailedCallDiscardsTheGroup) {
  auto comms = init_all(1);
  std::vector<int32_t> send(100, 3), recv(100, -1);
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  EXPECT_EQ(
      tdmAllReduce(send.data(), recv.data(), recv.size(), tdmInt32, tdmSum, comms[0], nullptr),
      tdmSuccess);
  EXPECT_EQ(tdmAllReduce(send.data(), recv.data(), recv.size(), static_cast<tdmDataType_t>(99),
                         tdmSum, comms[0], nullptr),
            tdmInvalidArgument);
  EXPECT_EQ(tdmGroupEnd(), tdmInvalidUsage);
  EXPECT_NE(std::string(tdmGetLastError(nullptr)).find("discarded"), std::string::npos)
      << tdmGetLastError(nullptr);
  EXPECT_EQ(recv, std::vector<int32_t>(100, -1)) << "the valid call ran";
  // The next group starts clean.
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  EXPECT_EQ(
      tdmAllReduce(send.data(), recv.data(), recv.size(), tdmInt32, tdmSum, comms[0], nullptr),
      tdmSuccess);
  EXPECT_EQ(tdmGroupEnd(), tdmSuccess);
  EXPECT_EQ(recv, send);
  destroy(comms);
}

// Every communicator sends to the next and receives from the previous, more
// than a link buffers: only a group that progresses all of them completes.
std::vector<float> payload(int from, size_t count) {
  std::vector<float> v(count);
  for (size_t i = 0; i < count; ++i) v[i] = float(from * 1000003 + int(i % 9973));
  return v;
}

TEST_F(Group, SendRecvRingFromOneThread) {
  const int n = 3;
  const size_t count = 1 << 20;  // 4 MiB, beyond the default 1 MiB shm ring
  auto comms = init_all(n);
  std::vector<std::vector<float>> out, in(n, std::vector<float>(count, -1.f));
  for (int r = 0; r < n; ++r) out.push_back(payload(r, count));
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(tdmSend(out[r].data(), count, tdmFloat32, (r + 1) % n, comms[r], nullptr),
              tdmSuccess);
    ASSERT_EQ(tdmRecv(in[r].data(), count, tdmFloat32, (r + n - 1) % n, comms[r], nullptr),
              tdmSuccess);
  }
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(nullptr);
  for (int r = 0; r < n; ++r) EXPECT_EQ(in[r], out[(r + n - 1) % n]) << "rank " << r;
  destroy(comms);
}

TEST_F(Group, SendRecvBothWaysFromThreads) {
  const int n = 3;
  const size_t count = 1 << 20;
  auto comms = init_all(n);
  std::vector<tdmResult_t> results(n, tdmInternalError);
  std::vector<std::vector<float>> from_prev(n), from_next(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      const int next = (r + 1) % n, prev = (r + n - 1) % n;
      auto mine = payload(r, count);
      from_prev[r].assign(count, -1.f);
      from_next[r].assign(count, -1.f);
      // Receives first: a group must not run its calls one at a time.
      tdmResult_t rc = tdmGroupStart();
      if (rc == tdmSuccess)
        rc = tdmRecv(from_prev[r].data(), count, tdmFloat32, prev, comms[r], nullptr);
      if (rc == tdmSuccess)
        rc = tdmRecv(from_next[r].data(), count, tdmFloat32, next, comms[r], nullptr);
      if (rc == tdmSuccess) rc = tdmSend(mine.data(), count, tdmFloat32, next, comms[r], nullptr);
      if (rc == tdmSuccess) rc = tdmSend(mine.data(), count, tdmFloat32, prev, comms[r], nullptr);
      tdmResult_t end = tdmGroupEnd();
      results[r] = rc == tdmSuccess ? end : rc;
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(results[r], tdmSuccess) << "rank " << r;
    EXPECT_EQ(from_prev[r], payload((r + n - 1) % n, count)) << "rank " << r;
    EXPECT_EQ(from_next[r], payload((r + 1) % n, count)) << "rank " << r;
  }
  destroy(comms);
}

}  // namespace
