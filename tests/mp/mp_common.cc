#include "mp_common.h"

#include <cstdio>
#include <random>

namespace mp {

namespace {
tdmComm_t g_world = nullptr;
uint64_t g_seed = 0;
}  // namespace

tdmComm_t world() { return g_world; }
int world_rank() {
  int r = -1;
  tdmCommUserRank(g_world, &r);
  return r;
}
int world_size() {
  int n = 0;
  tdmCommCount(g_world, &n);
  return n;
}
uint64_t shared_seed() { return g_seed; }

bool all_passed(tdmComm_t comm, bool mine) {
  int32_t failed = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&failed, &total, 1, tdmInt32, tdmSum, comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "verdict allreduce failed: %s\n", tdmGetLastError(comm));
    return false;
  }
  return total == 0;
}

const char* type_name(tdmDataType_t t) {
  static const char* names[] = {"int8", "uint8", "int32",  "uint32", "int64", "uint64",
                                "half", "float", "double", "bf16",   "e4m3",  "e5m2"};
  return names[t];
}

}  // namespace mp

// The world communicator comes from whichever launcher started the test.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (tdmCommInitWorld(&mp::g_world, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "tdmCommInitWorld failed: %s\n", tdmGetLastError(nullptr));
    return 1;
  }
  uint64_t seed = std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}();
  tdmBroadcast(&seed, &mp::g_seed, 1, tdmUint64, 0, mp::g_world, nullptr);
  std::printf("rank %d of %d, seed %llu\n", mp::world_rank(), mp::world_size(),
              static_cast<unsigned long long>(mp::g_seed));
  int rc = RUN_ALL_TESTS();
  tdmCommDestroy(mp::g_world);
  return rc;
}
