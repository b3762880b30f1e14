// Knobs read at communicator init (comm/comm.cc): a bad value fails
// tdmCommInitAll with tdmInvalidArgument and a sentence naming the variable,
// instead of an error from deeper down (ftruncate, std::vector) or silence.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/scoped_env.h"

namespace {

using tdm::testing::ScopedEnv;

void expect_init_fails(const char* name, const char* value, const std::string& mentions) {
  SCOPED_TRACE(std::string(name) + "=" + value);
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  env.set(name, value);
  std::vector<tdmComm_t> comms(2, nullptr);
  ASSERT_EQ(tdmCommInitAll(comms.data(), 2, nullptr), tdmInvalidArgument);
  const std::string error = tdmGetLastError(nullptr);
  EXPECT_NE(error.find(std::string(name) + "='" + value + "'"), std::string::npos) << error;
  EXPECT_NE(error.find(mentions), std::string::npos) << error;
}

TEST(CommKnobs, BadValuesFailInitNamingTheVariable) {
  expect_init_fails("TANDEM_SHM_BUFFER_SIZE", "-1", "from 4K to 1G");
  expect_init_fails("TANDEM_SHM_BUFFER_SIZE", "2G", "from 4K to 1G");
  expect_init_fails("TANDEM_SOCKET_BUFFER_SIZE", "-1", "from 4K to 1G");
  expect_init_fails("TANDEM_SOCKET_BUFFER_SIZE", "100", "from 4K to 1G");
  expect_init_fails("TANDEM_RANKS_PER_HOST", "-2", "from 0 to 2147483647");
  expect_init_fails("TANDEM_SPIN", "4294967296", "from 0 to 4294967295");
  expect_init_fails("TANDEM_DEBUG", "bogus", "NONE, WARN, INFO, TRACE");
  expect_init_fails("TANDEM_DEBUG_SUBSYS", "INIT,COLLS", "names 'COLLS'");
  expect_init_fails("TANDEM_TIMEOUT", "inf", "from 0.001 to 1e+07 seconds");
}

TEST(CommKnobs, EdgeValuesAreAccepted) {
  ScopedEnv env("TANDEM_TIMEOUT", "60");
  env.set("TANDEM_SHM_BUFFER_SIZE", "4K").set("TANDEM_SOCKET_BUFFER_SIZE", "4096");
  env.set("TANDEM_SPIN", "0").set("TANDEM_RANKS_PER_HOST", "1");
  env.set("TANDEM_DEBUG", "WARN").set("TANDEM_DEBUG_SUBSYS", "INIT,TOPO");
  std::vector<tdmComm_t> comms(2, nullptr);
  ASSERT_EQ(tdmCommInitAll(comms.data(), 2, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
  for (tdmComm_t comm : comms) EXPECT_EQ(tdmCommDestroy(comm), tdmSuccess);
}

}  // namespace
