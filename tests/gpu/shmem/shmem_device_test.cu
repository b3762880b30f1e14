// shmem_device_test's process: the world, device handle and stream every test
// uses, host helpers, and main (the harness and the tests: shmem_harness.h).
#include "shmem_harness.h"

namespace shmem_device_test {

// ---- process-wide state (set once in main) ----

tdmComm_t g_comm = nullptr;
int g_rank = 0;
int g_npes = 1;
tdmShmemDevice_t g_dev{};
cudaStream_t g_stream = nullptr;
bool g_shared_gpu = false;  // some GPU serves two PEs: spin waits time-slice, fewer iterations
int g_sms = 1;

// Iterations of the loops that hand data around the ring: each one needs
// every PE to run, which costs a time slice when PEs share a GPU.
int ring_iterations(int alone) { return g_shared_gpu ? std::max(alone / 10, 8) : alone; }

Errors* g_errors = nullptr;  // device memory

// ---- host helpers ----

bool all_ok(bool mine) {
  int32_t failed = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&failed, &total, 1, tdmInt32, tdmSum, g_comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "PE %d: verdict allreduce failed: %s\n", g_rank, tdmGetLastError(g_comm));
    return false;
  }
  return total == 0;
}

// Host barrier: all of this PE's device work is done, then every PE got
// here. The whole device, not just g_stream: cudaMemset and a cudaMemcpy from
// pageable memory may still be running on the legacy stream when they
// return, and a late one would wipe what a peer writes after the barrier
// (seen with 2 PEs per GPU, where time slicing delays them).
void host_barrier() {
  CUDA_EXPECT(cudaDeviceSynchronize());
  all_ok(true);
}

int next_pe() { return (g_rank + 1) % g_npes; }
int prev_pe() { return (g_rank + g_npes - 1) % g_npes; }

const char* scope_name(Scope s) {
  return s == Scope::kThread ? "thread" : s == Scope::kWarp ? "warp" : "block";
}

}  // namespace shmem_device_test

using namespace shmem_device_test;

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  tdm::test::GpuWorld world;
  if (!tdm::test::init_gpu_world("shmem_device_test", &world)) return 1;
  g_comm = world.comm;
  g_rank = world.rank;
  g_npes = world.size;
  const int device = world.device;
  int rc = 1;
  const tdmResult_t got = tdmShmemGetDevice(g_comm, &g_dev);
  if (got != tdmSuccess) {
    std::fprintf(stderr, "PE %d: tdmShmemGetDevice failed: %s\n", g_rank, tdmGetLastError(g_comm));
  }
  // Every PE continues only if every PE has a handle (else all stop, none hangs).
  if (all_ok(got == tdmSuccess) &&
      cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) == cudaSuccess &&
      cudaMalloc(&g_errors, sizeof(Errors)) == cudaSuccess) {
    cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, device);
    // Do two PEs share a GPU (same host and PCI bus id)?
    char host[256] = {}, bus[64] = {};
    gethostname(host, sizeof(host) - 1);
    cudaDeviceGetPCIBusId(bus, sizeof(bus), device);
    uint64_t key = 1469598103934665603ULL;
    for (const char* s : {static_cast<const char*>(host), static_cast<const char*>(bus)})
      for (; *s; ++s) key = (key ^ static_cast<unsigned char>(*s)) * 1099511628211ULL;
    std::vector<uint64_t> keys(g_npes);
    tdmAllGather(&key, keys.data(), 1, tdmUint64, g_comm, nullptr);
    std::sort(keys.begin(), keys.end());
    g_shared_gpu = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device);
    std::printf("PE %d of %d on %s GPU %d (%s, %s)%s, heap %zu MiB, %s\n", g_rank, g_npes, host,
                device, prop.name, bus, g_shared_gpu ? ", GPUs shared by PEs" : "",
                g_dev.heap_size >> 20, g_dev.peer_stride ? "contiguous peer heaps" : "peer table");
    rc = RUN_ALL_TESTS();
  }
  if (g_errors) cudaFree(g_errors);
  if (g_stream) cudaStreamDestroy(g_stream);
  tdmCommDestroy(g_comm);
  return rc;
}
