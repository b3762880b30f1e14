// my_pe, n_pes and ptr on the device against the host's answers.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// my_pe / n_pes / ptr
// ============================================================================

__global__ void identity_kernel(tdmShmemDevice_t sh, char* obj, uint64_t* word, int* pes,
                                void** ptrs, void** word_ptrs) {
  pes[0] = ts::my_pe(sh);
  pes[1] = ts::n_pes(sh);
  for (int pe = -1; pe <= sh.n_pes; ++pe) {
    ptrs[pe + 1] = ts::ptr(sh, obj, pe);
    word_ptrs[pe + 1] = ts::ptr(sh, word, pe);
  }
}

TEST_F(Shmem, IdentityAndSymmetricPointers) {
  const size_t sizes[] = {1000, 3 * 4096 + 1, 1 << 20, 24};
  std::vector<Sym*> objs;
  for (size_t s : sizes) objs.push_back(new Sym(s));
  void* none = reinterpret_cast<void*>(1);
  TDM_EXPECT(tdmShmemMalloc(g_comm, 0, &none));
  EXPECT_EQ(none, nullptr) << "size 0 gives NULL";

  // Same offsets on every PE, 256-byte aligned, inside the heap, disjoint.
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    const char* p = objs[i]->as<char>();
    EXPECT_NE(p, nullptr) << "allocation " << i;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u) << "allocation " << i;
    EXPECT_GE(p, g_dev.heap);
    EXPECT_LE(p + sizes[i], g_dev.heap + g_dev.heap_size);
    offsets.push_back(static_cast<uint64_t>(p - g_dev.heap));
    for (size_t j = 0; j < i; ++j) {
      const char* q = objs[j]->as<char>();
      EXPECT_TRUE(p + sizes[i] <= q || q + sizes[j] <= p) << "allocations " << i << ", " << j;
    }
  }
  const auto all = all_gather(offsets, tdmUint64);
  for (int pe = 0; pe < g_npes; ++pe)
    for (size_t i = 0; i < offsets.size(); ++i)
      EXPECT_EQ(all[pe * offsets.size() + i], offsets[i])
          << "allocation " << i << " is not at the same offset on PE " << pe;

  // The device's my_pe, n_pes and ptr agree with the host's answers.
  char* obj = objs[1]->as<char>() + 7;  // inside an object, odd offset
  uint64_t* word = objs[3]->as<uint64_t>();
  Local pes(2 * sizeof(int)), ptrs((g_npes + 2) * sizeof(void*)),
      word_ptrs((g_npes + 2) * sizeof(void*));
  identity_kernel<<<1, 1, 0, g_stream>>>(g_dev, obj, word, pes.as<int>(), ptrs.as<void*>(),
                                         word_ptrs.as<void*>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  int h_pes[2] = {-1, -1};
  std::vector<void*> h_ptrs(g_npes + 2), h_word_ptrs(g_npes + 2);
  CUDA_EXPECT(cudaMemcpy(h_pes, pes.p, sizeof(h_pes), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(
      cudaMemcpy(h_ptrs.data(), ptrs.p, h_ptrs.size() * sizeof(void*), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h_word_ptrs.data(), word_ptrs.p, h_word_ptrs.size() * sizeof(void*),
                         cudaMemcpyDeviceToHost));
  EXPECT_EQ(h_pes[0], g_rank);
  EXPECT_EQ(h_pes[1], g_npes);
  EXPECT_EQ(g_dev.my_pe, g_rank);
  EXPECT_EQ(g_dev.n_pes, g_npes);
  EXPECT_EQ(h_ptrs[0], nullptr) << "ptr(pe = -1)";
  EXPECT_EQ(h_ptrs[g_npes + 1], nullptr) << "ptr(pe = n_pes)";
  EXPECT_EQ(h_word_ptrs[0], nullptr);
  EXPECT_EQ(h_word_ptrs[g_npes + 1], nullptr);
  EXPECT_EQ(h_ptrs[g_rank + 1], obj) << "ptr(my_pe) is the local address";
  for (int pe = 0; pe < g_npes; ++pe) {
    void* host = nullptr;
    TDM_EXPECT(tdmShmemPtr(g_comm, obj, pe, &host));
    EXPECT_EQ(h_ptrs[pe + 1], host) << "device ptr and tdmShmemPtr disagree for PE " << pe;
    EXPECT_NE(host, nullptr) << "PE " << pe << " on this host is not load/store reachable";
    TDM_EXPECT(tdmShmemPtr(g_comm, word, pe, &host));
    EXPECT_EQ(h_word_ptrs[pe + 1], host) << "word, PE " << pe;
    if (g_dev.peer_stride != 0)
      EXPECT_EQ(h_ptrs[pe + 1], obj + (pe - g_rank) * g_dev.peer_stride) << "PE " << pe;
  }
  for (Sym* s : objs) delete s;
}

}  // namespace
}  // namespace shmem_device_test
