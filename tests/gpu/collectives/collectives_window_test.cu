// Symmetric windows: peer pointers, and the window's memory as collective
// buffers (the copy-engine paths under TANDEM_CUDA_CE=1).
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

class Window : public Collectives, public ::testing::WithParamInterface<bool> {};

TEST_P(Window, PeerPointersAndCollectives) {
  const bool from_tdm = GetParam();
  const int n = g_nranks, me = g_rank;
  const size_t size = size_t{4} << 20;
  DeviceAllocs mem(from_tdm);
  uint8_t* buf = mem(0, size);
  const bool have = all_agree(buf != nullptr);
  if (!have) return;
  tdmWindow_t win = nullptr;
  EXPECT_RESULT(tdmCommWindowRegister(g_comm, buf, size, &win, 0x40), tdmInvalidArgument);
  EXPECT_RESULT(tdmCommWindowRegister(g_comm, buf, 0, &win, TDM_WIN_DEFAULT), tdmInvalidArgument);
  const bool registered =
      all_agree(TDM_OK(tdmCommWindowRegister(g_comm, buf, size, &win, TDM_WIN_COLL_SYMMETRIC)));
  if (!registered) return;  // (a rank that registered leaks its window: the test failed anyway)
  void* p = nullptr;
  EXPECT_RESULT(tdmWindowPeerPointer(win, me, 0, &p), tdmSuccess);
  EXPECT_EQ(p, static_cast<void*>(buf)) << "this rank's own buffer";
  EXPECT_RESULT(tdmWindowPeerPointer(win, me, 100, &p), tdmSuccess);
  EXPECT_EQ(p, static_cast<void*>(buf + 100));
  EXPECT_RESULT(tdmWindowPeerPointer(win, -1, 0, &p), tdmInvalidArgument);
  EXPECT_RESULT(tdmWindowPeerPointer(win, n, 0, &p), tdmInvalidArgument);
  EXPECT_RESULT(tdmWindowPeerPointer(win, me, size, &p), tdmInvalidArgument);
  EXPECT_RESULT(tdmWindowPeerPointer(win, me, 0, nullptr), tdmInvalidArgument);

  // Every rank's buffer through its peer pointer (readable with cudaMemcpy).
  Case pattern = make(Coll::kAllGather, tdmUint32, kNoOp, 0);
  pattern.salt = ++g_salt;
  const size_t words = size / 4;
  std::vector<uint8_t> image(size);
  for (size_t j = 0; j < words; ++j) store(&image[j * 4], input(pattern, me, j).bits, 4);
  CUDA_OK(cudaMemcpy(buf, image.data(), size, cudaMemcpyHostToDevice));
  CUDA_OK(cudaDeviceSynchronize());
  host_barrier();
  for (int peer = 0; peer < n; ++peer) {
    void* at = nullptr;
    if (!TDM_OK(tdmWindowPeerPointer(win, peer, 0, &at))) continue;
    if (at == nullptr) {
      FAIL_CASE("no pointer to rank " + std::to_string(peer) + "'s buffer (same host)");
      continue;
    }
    std::vector<uint8_t> got(size);
    CUDA_OK(cudaMemcpy(got.data(), at, size, cudaMemcpyDefault));
    size_t bad = 0, first = 0;
    for (size_t j = 0; j < words; ++j)
      if (load(&got[j * 4], 4) != input(pattern, peer, j).bits && bad++ == 0) first = j;
    if (bad)
      FAIL_CASE("rank " + std::to_string(peer) + "'s buffer through the window: " +
                std::to_string(bad) + " wrong words, first at " + std::to_string(first));
  }
  host_barrier();  // every rank read before anyone writes
  // A write through the window lands in the next rank's buffer.
  void* next = nullptr;
  const uint64_t marker = fmix64(g_world.seeds[me] + 17);
  if (TDM_OK(tdmWindowPeerPointer(win, (me + 1) % n, 64 * me, &next)) && next)
    CUDA_OK(cudaMemcpy(next, &marker, 8, cudaMemcpyDefault));
  CUDA_OK(cudaDeviceSynchronize());
  host_barrier();
  uint64_t landed = 0;
  CUDA_OK(cudaMemcpy(&landed, buf + 64 * ((me + n - 1) % n), 8, cudaMemcpyDeviceToHost));
  EXPECT_EQ(landed, fmix64(g_world.seeds[(me + n - 1) % n] + 17)) << "written by the previous rank";
  host_barrier();

  // The window's memory as collective buffers (halves of the window). With
  // TANDEM_CUDA_CE=1 TANDEM_CUDA_CE_MIN_BYTES=1 (the *_copy_engine tests)
  // allgather and broadcast into the window take the copy-engine path; the
  // others stay on the kernels.
  for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 77777),
                 make(Coll::kAlltoAll, tdmInt32, kNoOp, 1023, Place::kIn),
                 make(Coll::kAlltoAll, tdmBfloat16, kNoOp, 77777),
                 make(Coll::kAllGather, tdmFloat32, kNoOp, 77777),
                 make(Coll::kAllGather, tdmUint8, kNoOp, 1023, Place::kIn),
                 make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, n - 1),
                 make(Coll::kBroadcast, tdmInt8, kNoOp, 1023, Place::kIn, 0)})
    run_case(c, [&](int slot, size_t bytes) -> uint8_t* {
      return bytes <= size / 2 && slot < 2 ? buf + slot * (size / 2) : mem(slot, bytes);
    });
  TDM_OK(tdmCommWindowDeregister(g_comm, win));
  EXPECT_RESULT(tdmWindowPeerPointer(win, me, 0, &p), tdmInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Device, Window, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "TdmMemAlloc" : "CudaMalloc");
                         });

}  // namespace
}  // namespace collectives_gpu_test
