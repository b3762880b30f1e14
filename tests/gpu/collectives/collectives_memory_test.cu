// Buffers from tdmMemAlloc, and buffers registered with tdmCommRegister.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// ---- memory from the library, registration, windows, split ----

TEST_F(Collectives, TdmMemAllocBuffers) {
  void* p = nullptr;
  EXPECT_RESULT(tdmMemAlloc(&p, 0), tdmInvalidArgument);
  EXPECT_RESULT(tdmMemAlloc(nullptr, 64), tdmInvalidArgument);
  EXPECT_RESULT(tdmMemFree(nullptr), tdmSuccess);
  DeviceAllocs mem(/*tdm=*/true);
  if (uint8_t* probe = mem(0, 4096)) {
    cudaPointerAttributes attributes{};
    CUDA_OK(cudaPointerGetAttributes(&attributes, probe));
    EXPECT_EQ(attributes.type, cudaMemoryTypeDevice) << "tdmMemAlloc with a current device";
  }
  for (Case c : mixed_cases()) run_case(c, mem.alloc());
  // Memory the library did not allocate is refused and left alone.
  void* other = nullptr;
  if (CUDA_OK(cudaMalloc(&other, 4096))) {
    EXPECT_RESULT(tdmMemFree(other), tdmInvalidArgument);
    CUDA_OK(cudaFree(other));
  }
}

TEST_F(Collectives, RegisteredBuffers) {
  DeviceAllocs mem;
  for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 77777),
                 make(Coll::kAllGather, tdmInt8, kNoOp, 1023, Place::kIn),
                 make(Coll::kRing, tdmFloat64, kNoOp, 1023)}) {
    c.salt = ++g_salt;
    const Bufs b = place(c, mem.alloc());
    std::vector<void*> handles;
    for (const Region* r : {&b.a, &b.b}) {
      void* h = nullptr;
      if (r->base && TDM_OK(tdmCommRegister(g_comm, r->base, r->bytes, &h))) handles.push_back(h);
    }
    upload(c, b);
    issue_ok(c, b);
    verify(c, b);
    for (void* h : handles) TDM_OK(tdmCommDeregister(g_comm, h));
    if (!handles.empty()) EXPECT_RESULT(tdmCommDeregister(g_comm, handles[0]), tdmInvalidArgument);
    void* h = nullptr;
    EXPECT_RESULT(tdmCommRegister(g_comm, b.a.base, 0, &h), tdmInvalidArgument);
    EXPECT_RESULT(tdmCommRegister(g_comm, nullptr, 64, &h), tdmInvalidArgument);
  }
}

}  // namespace
}  // namespace collectives_gpu_test
