// A communicator's asynchronous error (comm/async_error.h): the first error
// wins, and readers on other threads see a code and text that belong
// together while writers race (label tsan: ThreadSanitizer checks the races).
#include "comm/async_error.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace tdm {
namespace {

TEST(AsyncError, FirstErrorWins) {
  AsyncError error;
  EXPECT_EQ(error.code(), tdmSuccess);
  EXPECT_EQ(error.text(), "");
  error.record(tdmRemoteError, "peer died");
  error.record(tdmSystemError, "later");
  error.record(tdmInternalError, "");
  EXPECT_EQ(error.code(), tdmRemoteError);
  EXPECT_EQ(error.text(), "peer died");
}

std::string text_of(tdmResult_t code) { return "error " + std::to_string(int(code)); }

TEST(AsyncError, ConcurrentWritersAndReadersAgree) {
  const tdmResult_t codes[] = {tdmUnhandledCudaError, tdmSystemError,  tdmInternalError,
                               tdmInvalidArgument,    tdmInvalidUsage, tdmRemoteError};
  for (int round = 0; round < 20; ++round) {
    AsyncError error;
    std::atomic<bool> go{false};
    std::atomic<int> bad_reads{0};
    std::vector<std::thread> threads;
    for (tdmResult_t code : codes)
      threads.emplace_back([&, code] {
        while (!go) std::this_thread::yield();
        error.record(code, text_of(code));
      });
    for (int reader = 0; reader < 2; ++reader)
      threads.emplace_back([&] {
        while (!go) std::this_thread::yield();
        tdmResult_t seen = tdmSuccess;
        for (int i = 0; i < 2000; ++i) {
          const tdmResult_t code = error.code();
          if (code == tdmSuccess) {
            if (seen != tdmSuccess) ++bad_reads;  // an error went away
            continue;
          }
          if (seen != tdmSuccess && code != seen) ++bad_reads;  // the first error changed
          seen = code;
          if (error.text() != text_of(code)) ++bad_reads;  // text of another error
        }
      });
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(bad_reads, 0);
    EXPECT_NE(error.code(), tdmSuccess);
    EXPECT_EQ(error.text(), text_of(error.code()));
  }
}

}  // namespace
}  // namespace tdm
