// On a GPU machine: CUDA device buffers must be refused with tdmInvalidUsage
// and a sentence (the CUDA engine is a later issue), never a silent no-op, and
// the host path must still work with a CUDA runtime present.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tandem/tandem.h"

namespace {

class CudaBuffers : public ::testing::Test {
 protected:
  void SetUp() override {
    int devices = 0;
    ASSERT_EQ(cudaGetDeviceCount(&devices), cudaSuccess) << "this test needs a GPU";
    ASSERT_GT(devices, 0);
    ASSERT_EQ(tdmCommInitAll(&comm_, 1, nullptr), tdmSuccess) << tdmGetLastError(nullptr);
    ASSERT_EQ(cudaMalloc(&device_, kBytes), cudaSuccess);
    ASSERT_EQ(cudaMemset(device_, 0x5a, kBytes), cudaSuccess);
  }
  void TearDown() override {
    cudaFree(device_);
    tdmCommDestroy(comm_);
  }
  // The device buffer still holds the 0x5a pattern: nothing was touched.
  void expect_untouched() {
    std::vector<unsigned char> host(kBytes);
    ASSERT_EQ(cudaMemcpy(host.data(), device_, kBytes, cudaMemcpyDeviceToHost), cudaSuccess);
    for (unsigned char b : host) ASSERT_EQ(b, 0x5a);
  }
  static constexpr size_t kBytes = 1 << 20;
  static constexpr size_t kCount = kBytes / sizeof(float);
  tdmComm_t comm_ = nullptr;
  void* device_ = nullptr;
};

TEST_F(CudaBuffers, EveryCollectiveRefusesDeviceMemoryWithASentence) {
  std::vector<float> host(kCount, 1.0f);
  float* d = static_cast<float*>(device_);
  struct Case {
    const char* name;
    tdmResult_t result;
  };
  std::vector<Case> cases = {
      {"allreduce", tdmAllReduce(d, d, kCount, tdmFloat32, tdmSum, comm_, nullptr)},
      {"allreduce host->device",
       tdmAllReduce(host.data(), d, kCount, tdmFloat32, tdmSum, comm_, nullptr)},
      {"broadcast", tdmBroadcast(d, d, kCount, tdmFloat32, 0, comm_, nullptr)},
      {"reduce", tdmReduce(d, d, kCount, tdmFloat32, tdmSum, 0, comm_, nullptr)},
      {"allgather", tdmAllGather(d, d, kCount, tdmFloat32, comm_, nullptr)},
      {"reducescatter", tdmReduceScatter(d, d, kCount, tdmFloat32, tdmSum, comm_, nullptr)},
      {"alltoall", tdmAlltoAll(d, d, kCount, tdmFloat32, comm_, nullptr)},
      {"gather", tdmGather(d, d, kCount, tdmFloat32, 0, comm_, nullptr)},
      {"scatter", tdmScatter(d, d, kCount, tdmFloat32, 0, comm_, nullptr)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.result, tdmInvalidUsage) << c.name;
    EXPECT_NE(std::string(tdmGetLastError(comm_)).find("CUDA"), std::string::npos) << c.name;
  }
  expect_untouched();
}

TEST_F(CudaBuffers, HostBuffersWithAStreamAreRefused) {
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  std::vector<float> in(16, 2.0f), out(16, -1.0f);
  EXPECT_EQ(tdmAllReduce(in.data(), out.data(), 16, tdmFloat32, tdmSum, comm_, stream),
            tdmInvalidUsage);
  EXPECT_NE(std::string(tdmGetLastError(comm_)).find("stream"), std::string::npos);
  for (float v : out) EXPECT_EQ(v, -1.0f);
  cudaStreamDestroy(stream);
}

TEST_F(CudaBuffers, HostPathWorksBesideCuda) {
  std::vector<float> in(1000), out(1000, -1.0f);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.5f;
  ASSERT_EQ(tdmAllReduce(in.data(), out.data(), in.size(), tdmFloat32, tdmSum, comm_, nullptr),
            tdmSuccess)
      << tdmGetLastError(comm_);
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i]);
  int device = -2;
  ASSERT_EQ(tdmCommCuDevice(comm_, &device), tdmSuccess);
  EXPECT_EQ(device, 0);
}

}  // namespace
