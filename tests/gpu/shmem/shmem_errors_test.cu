// Misuse of the host API: tdmShmemFree and tdmShmemPtr refuse bad arguments.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// errors
// ============================================================================

TEST_F(Shmem, ErrorsAreInvalidArgument) {
  void* device = nullptr;
  CUDA_EXPECT(cudaMalloc(&device, 4096));
  EXPECT_EQ(tdmShmemFree(g_comm, device), tdmInvalidArgument) << "cudaMalloc pointer";
  std::vector<char> host(64);
  EXPECT_EQ(tdmShmemFree(g_comm, host.data()), tdmInvalidArgument) << "host pointer";
  cudaFree(device);

  void* obj = nullptr;
  TDM_EXPECT(tdmShmemMalloc(g_comm, 4096, &obj));
  EXPECT_EQ(tdmShmemFree(g_comm, static_cast<char*>(obj) + 256), tdmInvalidArgument)
      << "pointer inside an allocation";
  void* out = reinterpret_cast<void*>(1);
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, -1, &out), tdmInvalidArgument) << "pe -1";
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, g_npes, &out), tdmInvalidArgument) << "pe n_pes";
  EXPECT_EQ(tdmShmemPtr(g_comm, obj, INT_MAX, &out), tdmInvalidArgument) << "pe INT_MAX";
  TDM_EXPECT(tdmShmemPtr(g_comm, obj, g_rank, &out));
  EXPECT_EQ(out, obj) << "tdmShmemPtr(my pe)";
  TDM_EXPECT(tdmShmemFree(g_comm, obj));
  EXPECT_EQ(tdmShmemFree(g_comm, obj), tdmInvalidArgument) << "double free";
}

}  // namespace
}  // namespace shmem_device_test
