// Checks for tests of the C API's refusals (unit, mp and GPU tests alike):
// a call failed with its code, and the last-error sentence names the problem.
#ifndef TANDEM_TESTS_COMMON_API_CHECKS_H_
#define TANDEM_TESTS_COMMON_API_CHECKS_H_

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/scoped_env.h"

namespace tdm::test {

// `got` is `code`, and tdmGetLastError's sentence contains `mentions`.
inline void expect_error(tdmResult_t got, tdmResult_t code, std::string_view mentions) {
  EXPECT_EQ(got, code);
  const std::string error = tdmGetLastError(nullptr);
  EXPECT_NE(error.find(mentions), std::string::npos) << "error was: " << error;
}

// Two communicators of this process (tdmCommInitAll): its rank threads have
// no current device, so the communicators have no CUDA engine, which is what
// tests of the checks before any GPU work need.
class HostCommPair : public ::testing::Test {
 protected:
  void SetUp() override {
    comms_.assign(2, nullptr);
    ASSERT_EQ(tdmCommInitAll(comms_.data(), 2, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  }
  void TearDown() override {
    for (tdmComm_t c : comms_) EXPECT_EQ(tdmCommDestroy(c), tdmSuccess);
  }
  tdm::testing::ScopedEnv env_{"TANDEM_TIMEOUT", "60"};
  std::vector<tdmComm_t> comms_;
};

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_API_CHECKS_H_
