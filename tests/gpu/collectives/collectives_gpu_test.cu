// collectives_gpu_test's process: the world, stream and failure counters every
// test uses, failure reporting, the verdict all ranks agree on, and main (the
// harness and the tests: collectives_harness.h).
#include "collectives_harness.h"

namespace collectives_gpu_test {

// ---- process-wide state (set once in main) ----

tdmComm_t g_comm = nullptr;
int g_rank = 0;
int g_nranks = 1;
cudaStream_t g_stream = nullptr;

// ---- failure reporting ----

// Every failure of a test is counted; the first few are reported in full (a
// broken kernel fails hundreds of cases alike and would bury the first one).
int g_failures = 0;

void fail_at(const char* file, int line, const std::string& message) {
  if (++g_failures <= kMaxReported)
    ADD_FAILURE_AT(file, line) << message << " [rank " << g_rank << "]";
}

const char* result_name(tdmResult_t r) {
  static const char* names[] = {"tdmSuccess",       "tdmUnhandledCudaError", "tdmSystemError",
                                "tdmInternalError", "tdmInvalidArgument",    "tdmInvalidUsage",
                                "tdmRemoteError",   "tdmInProgress"};
  return r >= 0 && r < tdmNumResults ? names[r] : "(not a tdmResult_t)";
}

bool cuda_ok(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return true;
  fail_at(file, line, std::string(what) + ": " + cudaGetErrorString(e));
  return false;
}
bool tdm_is(tdmResult_t got, tdmResult_t want, const char* what, const char* file, int line) {
  if (got == want) return true;
  std::string message =
      std::string(what) + " returned " + result_name(got) + ", want " + result_name(want);
  if (got != tdmSuccess) message += std::string(" (") + tdmGetLastError(nullptr) + ")";
  fail_at(file, line, message);
  return false;
}

// True only if every rank of `comm` says true (an allreduce on host memory).
bool all_agree(bool mine, tdmComm_t comm) {
  int32_t bad = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&bad, &total, 1, tdmInt32, tdmSum, comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "rank %d: verdict allreduce failed: %s\n", g_rank, tdmGetLastError(comm));
    return false;
  }
  return total == 0;
}
void host_barrier() { all_agree(true); }

}  // namespace collectives_gpu_test

using namespace collectives_gpu_test;

void PrintTo(tdmDataType_t t, std::ostream* os) { *os << type_name(t); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();  // listing needs no GPU
  tdm::test::GpuWorld world;
  if (!tdm::test::init_gpu_world("collectives_gpu_test", &world)) return 1;
  g_comm = world.comm;
  g_rank = world.rank;
  g_nranks = world.size;
  const int device = world.device, devices = world.devices;
  int comm_device = -1;
  tdmCommCuDevice(g_comm, &comm_device);
  int rc = 1;
  const bool ready = comm_device == device &&
                     cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) == cudaSuccess;
  if (!ready)
    std::fprintf(stderr, "rank %d: communicator on device %d (want %d), or no stream\n", g_rank,
                 comm_device, device);
  // Every rank runs the tests only if every rank is ready (else none hangs).
  if (all_agree(ready)) {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device);
    std::printf("rank %d of %d on GPU %d of %d (%s)\n", g_rank, g_nranks, device, devices,
                prop.name);
    rc = RUN_ALL_TESTS();
  }
  cudaDeviceSynchronize();
  free_arena();
  if (g_stream) cudaStreamDestroy(g_stream);
  tdmCommDestroy(g_comm);
  free_kept_allocs();
  return rc;
}
