// How the launcher's variables become a world (bootstrap/launcher_env.h): ranks,
// world sizes and ports out of range fail with a sentence naming the variable,
// before anything listens or connects.
#include "bootstrap/launcher_env.h"

#include <gtest/gtest.h>

#include <string>

#include "bootstrap/unique_id.h"
#include "tests/common/scoped_env.h"
#include "util/error.h"

namespace tdm::bootstrap {
namespace {

using tdm::testing::ScopedEnv;

// None of the launchers' variables, whatever the environment the test runs in.
void clear_launchers(ScopedEnv& env) {
  for (const char* v : {"TANDEM_UNIQUE_ID", "TANDEM_RANK", "TANDEM_WORLD_SIZE", "RANK",
                        "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TANDEM_ROOT_PORT",
                        "TORCHELASTIC_RUN_ID", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    env.set(v, nullptr);
}

void expect_rejected(const std::string& mentions) {
  try {
    World w = resolve_world();
    ADD_FAILURE() << "accepted: rank " << w.rank << " of " << w.nranks;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(LauncherEnv, TandemrunRanksAndWorldSizesAreRangeChecked) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("TANDEM_UNIQUE_ID", to_hex(tdmUniqueId{}).c_str());
  env.set("TANDEM_RANK", "0");
  env.set("TANDEM_WORLD_SIZE", "77777777777");  // was truncated to 468366449
  expect_rejected("TANDEM_WORLD_SIZE='77777777777' is not an integer from 1 to 2147483647");
  env.set("TANDEM_WORLD_SIZE", "0");
  expect_rejected("TANDEM_WORLD_SIZE='0'");
  env.set("TANDEM_WORLD_SIZE", "4");
  env.set("TANDEM_RANK", "-1");
  expect_rejected("TANDEM_RANK='-1' is not an integer from 0 to 2147483646");
  env.set("TANDEM_RANK", "1x");
  expect_rejected("TANDEM_RANK='1x'");
  env.set("TANDEM_RANK", nullptr);
  expect_rejected("TANDEM_RANK must be set");
  env.set("TANDEM_RANK", "4");
  expect_rejected("rank 4 of 4");
  env.set("TANDEM_RANK", "3");
  World w = resolve_world();
  EXPECT_EQ(w.rank, 3);
  EXPECT_EQ(w.nranks, 4);
}

TEST(LauncherEnv, TorchrunPortsAreRangeChecked) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("RANK", "1").set("WORLD_SIZE", "2").set("MASTER_ADDR", "127.0.0.1");
  expect_rejected("MASTER_PORT must be set");
  env.set("MASTER_PORT", "65536");
  expect_rejected("MASTER_PORT='65536' is not an integer from 1 to 65535");
  env.set("MASTER_PORT", "-29500");
  expect_rejected("MASTER_PORT='-29500'");
  env.set("MASTER_PORT", "29500");
  env.set("TANDEM_ROOT_PORT", "0");
  expect_rejected("TANDEM_ROOT_PORT='0' is not an integer from 1 to 65535");
  env.set("TANDEM_ROOT_PORT", nullptr);
  env.set("RANK", "99999999999999999999");
  expect_rejected("RANK='99999999999999999999'");
  env.set("RANK", "1").set("WORLD_SIZE", "-2");
  expect_rejected("WORLD_SIZE='-2'");
}

// torchrun-style ranks derive the job key: from TANDEM_JOB_SECRET when set
// (so two jobs at one rendezvous point with different secrets cannot join
// each other), else from the rendezvous point alone (unauthenticated).
TEST(LauncherEnv, TorchrunKeyComesFromTheJobSecret) {
  ScopedEnv env;
  clear_launchers(env);
  env.set("RANK", "1").set("WORLD_SIZE", "2").set("MASTER_ADDR", "127.0.0.1");
  env.set("MASTER_PORT", "29500").set("TANDEM_JOB_SECRET", nullptr);
  auto key_now = [] { return decode(resolve_world().id).key; };
  const JobKey open = key_now();
  EXPECT_EQ(key_now(), open);  // every rank derives the same
  env.set("TANDEM_JOB_SECRET", "0123456789abcdef0123456789abcdef");
  const JobKey a = key_now();
  EXPECT_NE(a, open);
  EXPECT_EQ(key_now(), a);
  env.set("TANDEM_JOB_SECRET", "0123456789abcdef0123456789abcdeX");
  EXPECT_NE(key_now(), a);
  env.set("MASTER_PORT", "29501");  // another rendezvous point, same secret: another key
  env.set("TANDEM_JOB_SECRET", "0123456789abcdef0123456789abcdef");
  EXPECT_NE(key_now(), a);
  env.set("TANDEM_JOB_SECRET", "short");
  expect_rejected("TANDEM_JOB_SECRET has 5 characters");
}

}  // namespace
}  // namespace tdm::bootstrap
