// Device queries (device/device_query.h) in a build without CUDA: no
// devices, every pointer is host memory, setting a device does nothing. The
// CUDA side (device pointers, managed memory, bus ids) needs a GPU: it is
// tested by tests/gpu (cuda_buffers_test.cu), on the lent GPU machine.
#include "device/device_query.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tdm::device {
namespace {

TEST(DeviceQuery, HostPointersAreHostMemory) {
  int on_stack = 0;
  std::vector<double> on_heap(1000);
  auto owned = std::make_unique<char[]>(1 << 20);
  static const int in_data = 1;
  EXPECT_EQ(memory_type(&on_stack), MemoryType::kHost);
  EXPECT_EQ(memory_type(on_heap.data()), MemoryType::kHost);
  EXPECT_EQ(memory_type(owned.get()), MemoryType::kHost);
  EXPECT_EQ(memory_type(&in_data), MemoryType::kHost);
  EXPECT_EQ(memory_type(nullptr), MemoryType::kHost);
}

#if !TANDEM_HAVE_CUDA
TEST(DeviceQuery, NoDevicesWithoutCuda) {
  EXPECT_EQ(cuda_device_count(), 0);
  EXPECT_EQ(current_cuda_device(), -1);
  set_cuda_device(0);  // a no-op, not an error
  EXPECT_EQ(current_cuda_device(), -1);
  char busid[32] = "unchanged";
  cuda_device_busid(busid, sizeof(busid));
  EXPECT_EQ(std::string(busid), "");
}
#endif

}  // namespace
}  // namespace tdm::device
