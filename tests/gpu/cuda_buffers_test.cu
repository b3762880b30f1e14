// On a GPU machine, one rank: mixing host and CUDA buffers in one call and
// host buffers with a stream are refused with a sentence, device buffers run
// on the CUDA engine, and the host path still works beside it.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <ctime>
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

TEST_F(CudaBuffers, MixedHostAndDeviceBuffersAreRefusedWithASentence) {
  std::vector<float> host(kCount, 1.0f);
  float* d = static_cast<float*>(device_);
  struct Case {
    const char* name;
    tdmResult_t result;
  };
  std::vector<Case> cases = {
      {"allreduce host->device",
       tdmAllReduce(host.data(), d, kCount, tdmFloat32, tdmSum, comm_, nullptr)},
      {"allreduce device->host",
       tdmAllReduce(d, host.data(), kCount, tdmFloat32, tdmSum, comm_, nullptr)},
      {"broadcast", tdmBroadcast(host.data(), d, kCount, tdmFloat32, 0, comm_, nullptr)},
      {"allgather", tdmAllGather(host.data(), d, kCount, tdmFloat32, comm_, nullptr)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.result, tdmInvalidUsage) << c.name;
    EXPECT_NE(std::string(tdmGetLastError(comm_)).find("CUDA"), std::string::npos) << c.name;
  }
  expect_untouched();
}

// One rank: a device allreduce copies (random input, poisoned output).
TEST_F(CudaBuffers, SingleRankDeviceAllReduceCopies) {
  std::vector<float> in(kCount), out(kCount);
  unsigned seed = 12345u ^ static_cast<unsigned>(time(nullptr));
  for (float& v : in) v = static_cast<float>((seed = seed * 1664525u + 1013904223u) >> 8);
  float* dout = nullptr;
  ASSERT_EQ(cudaMalloc(&dout, kBytes), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_, in.data(), kBytes, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(dout, 0xa5, kBytes), cudaSuccess);
  EXPECT_EQ(tdmAllReduce(device_, dout, kCount, tdmFloat32, tdmSum, comm_, nullptr), tdmSuccess)
      << tdmGetLastError(comm_);
  ASSERT_EQ(cudaMemcpy(out.data(), dout, kBytes, cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(dout);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), kBytes), 0);
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

// Communicators created inside tdmGroupStart/End (what nccl-tests -g and
// PyTorch do) run their init on threads of the group's own; each must bind
// the device current when the caller asked, not device 0. Ranks sit on the
// devices in reverse, so rank 0 is not on device 0 when there are two; one
// allreduce per device in one group checks the engines work on them.
TEST(GroupInit, CommunicatorsCreatedInAGroupUseTheCallersDevice) {
  int devices = 0;
  ASSERT_EQ(cudaGetDeviceCount(&devices), cudaSuccess);
  ASSERT_GT(devices, 0);
  const int n = std::min(devices, 2);
  auto device_of = [n](int rank) { return n - 1 - rank; };
  tdmUniqueId id;
  ASSERT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  std::vector<tdmComm_t> comms(size_t(n), nullptr);
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(cudaSetDevice(device_of(r)), cudaSuccess);
    ASSERT_EQ(tdmCommInitRank(&comms[size_t(r)], n, id, r), tdmSuccess);
  }
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(nullptr);
  for (int r = 0; r < n; ++r) {
    int device = -1;
    ASSERT_EQ(tdmCommCuDevice(comms[size_t(r)], &device), tdmSuccess);
    EXPECT_EQ(device, device_of(r)) << "rank " << r;
  }
  constexpr size_t kCount = 1 << 16;
  const size_t ranks = size_t(n);
  std::vector<float*> send(ranks, nullptr), recv(ranks, nullptr);
  std::vector<cudaStream_t> streams(ranks, nullptr);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(cudaSetDevice(device_of(r)), cudaSuccess);
    ASSERT_EQ(cudaStreamCreate(&streams[size_t(r)]), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&send[size_t(r)], kCount * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&recv[size_t(r)], kCount * sizeof(float)), cudaSuccess);
    std::vector<float> mine(kCount);
    for (size_t i = 0; i < kCount; ++i) mine[i] = float((r + 1) * 1000 + int(i % 997));
    ASSERT_EQ(
        cudaMemcpy(send[size_t(r)], mine.data(), kCount * sizeof(float), cudaMemcpyHostToDevice),
        cudaSuccess);
    ASSERT_EQ(cudaMemset(recv[size_t(r)], 0xff, kCount * sizeof(float)), cudaSuccess);  // NaNs
  }
  ASSERT_EQ(tdmGroupStart(), tdmSuccess);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(cudaSetDevice(device_of(r)), cudaSuccess);
    ASSERT_EQ(tdmAllReduce(send[size_t(r)], recv[size_t(r)], kCount, tdmFloat32, tdmSum,
                           comms[size_t(r)], streams[size_t(r)]),
              tdmSuccess)
        << tdmGetLastError(comms[size_t(r)]);
  }
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(nullptr);
  for (int r = 0; r < n; ++r) {
    ASSERT_EQ(cudaSetDevice(device_of(r)), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(streams[size_t(r)]), cudaSuccess);
    std::vector<float> got(kCount);
    ASSERT_EQ(
        cudaMemcpy(got.data(), recv[size_t(r)], kCount * sizeof(float), cudaMemcpyDeviceToHost),
        cudaSuccess);
    size_t wrong = 0;
    for (size_t i = 0; i < kCount; ++i) {
      float want = 0;  // sum over ranks, exact in float
      for (int q = 0; q < n; ++q) want += float((q + 1) * 1000 + int(i % 997));
      wrong += got[i] != want;
    }
    EXPECT_EQ(wrong, 0u) << "rank " << r << " on device " << device_of(r);
  }
  for (int r = 0; r < n; ++r) {
    cudaSetDevice(device_of(r));
    cudaFree(send[size_t(r)]);
    cudaFree(recv[size_t(r)]);
    cudaStreamDestroy(streams[size_t(r)]);
    EXPECT_EQ(tdmCommDestroy(comms[size_t(r)]), tdmSuccess);
  }
  cudaSetDevice(0);
}

}  // namespace
