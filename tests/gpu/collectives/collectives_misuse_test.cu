// Misuse: invalid arguments and refused groups write nothing and leave the
// communicator usable.
#include "collectives_harness.h"

namespace collectives_gpu_test {

namespace {

// ---- misuse: refused, and nothing written ----

// An enum argument holding a value no enumerator has, as a C caller can pass
// (a static_cast to a value outside the enum's range is undefined in C++).
template <typename E>
E invalid_enum(int v) {
  static_assert(sizeof(E) == sizeof(int), "enums of int size");
  E e;
  std::memcpy(&e, &v, sizeof e);
  return e;
}

TEST_F(Collectives, InvalidArgumentsWriteNothing) {
  const int n = g_nranks, me = g_rank;
  const size_t k = 1024;
  const tdmDataType_t f = tdmFloat32;
  const cudaStream_t s = g_stream;
  DeviceAllocs mem;
  uint8_t* send = mem(0, n * k * 8);
  uint8_t* recv = mem(1, n * k * 8);
  if (!all_agree(send && recv)) return;
  CUDA_OK(cudaMemset(send, 0x3c, n * k * 8));
  CUDA_OK(cudaMemset(recv, kPoison, n * k * 8));
  std::vector<float> host_send(n * k, 1.0f), host_recv(n * k, 7.0f);
  float two = 2.0f;
  tdmRedOp_t float_op = tdmSum, dead = tdmSum, op = tdmSum;
  TDM_OK(tdmRedOpCreatePreMulSum(&float_op, &two, f, tdmScalarHostImmediate, g_comm));
  TDM_OK(tdmRedOpCreatePreMulSum(&dead, &two, f, tdmScalarHostImmediate, g_comm));
  TDM_OK(tdmRedOpDestroy(dead, g_comm));

  // Counts whose byte size overflows (alone, or times the ranks).
  const size_t huge = SIZE_MAX / 4, by_ranks = SIZE_MAX / 8 / n + 1;
  EXPECT_RESULT(tdmAllReduce(send, recv, huge, f, tdmSum, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmReduce(send, recv, huge, f, tdmSum, 0, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmBroadcast(send, recv, huge, f, 0, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmScatter(send, recv, huge, f, 0, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmSend(send, huge, f, (me + 1) % n, g_comm, s), tdmInvalidArgument);
  if (n > 1) {
    EXPECT_RESULT(tdmAllGather(send, recv, by_ranks, f, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmReduceScatter(send, recv, by_ranks, f, tdmSum, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmAlltoAll(send, recv, by_ranks, f, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmGather(send, recv, by_ranks, f, me, g_comm, s), tdmInvalidArgument);
  }
  // Not a data type; not an op (or not one for this type, or destroyed).
  const auto bad_type = static_cast<tdmDataType_t>(tdmNumTypes);
  const auto negative_type = invalid_enum<tdmDataType_t>(-1);
  EXPECT_RESULT(tdmAllReduce(send, recv, k, bad_type, tdmSum, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmAllGather(send, recv, k, negative_type, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmBroadcast(send, recv, k, bad_type, 0, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(
      tdmAllReduce(send, recv, k, f, static_cast<tdmRedOp_t>(tdmNumOps + 1000), g_comm, s),
      tdmInvalidArgument);
  EXPECT_RESULT(tdmReduce(send, recv, k, f, invalid_enum<tdmRedOp_t>(-1), 0, g_comm, s),
                tdmInvalidArgument);
  EXPECT_RESULT(tdmReduceScatter(send, recv, k, f, dead, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmAllReduce(send, recv, k, tdmInt32, float_op, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmRedOpDestroy(tdmSum, g_comm), tdmInvalidArgument);
  EXPECT_RESULT(tdmRedOpDestroy(dead, g_comm), tdmInvalidArgument);
  EXPECT_RESULT(tdmRedOpCreatePreMulSum(&op, recv, f, tdmScalarHostImmediate, g_comm),
                tdmInvalidArgument);  // a device scalar cannot be host-immediate
  EXPECT_RESULT(
      tdmRedOpCreatePreMulSum(&op, &two, f, invalid_enum<tdmScalarResidence_t>(7), g_comm),
      tdmInvalidArgument);
  EXPECT_RESULT(tdmRedOpCreatePreMulSum(&op, nullptr, f, tdmScalarHostImmediate, g_comm),
                tdmInvalidArgument);
  EXPECT_RESULT(tdmRedOpCreatePreMulSum(&op, &two, bad_type, tdmScalarHostImmediate, g_comm),
                tdmInvalidArgument);
  // Roots and peers out of range.
  for (int root : {-1, n, n + 7}) {
    SCOPED_TRACE("root " + std::to_string(root));
    EXPECT_RESULT(tdmReduce(send, recv, k, f, tdmSum, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmBroadcast(send, recv, k, f, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmBcast(recv, k, f, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmGather(send, recv, k, f, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmScatter(send, recv, k, f, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmSend(send, k, f, root, g_comm, s), tdmInvalidArgument);
    EXPECT_RESULT(tdmRecv(recv, k, f, root, g_comm, s), tdmInvalidArgument);
  }
  // Host and device buffers mixed; host buffers with a stream.
  EXPECT_RESULT(tdmAllReduce(host_send.data(), recv, k, f, tdmSum, g_comm, s), tdmInvalidUsage);
  EXPECT_RESULT(tdmAllReduce(send, host_recv.data(), k, f, tdmSum, g_comm, s), tdmInvalidUsage);
  EXPECT_RESULT(tdmAllGather(host_send.data(), recv, k, f, g_comm, s), tdmInvalidUsage);
  EXPECT_RESULT(tdmReduceScatter(send, host_recv.data(), k, f, tdmSum, g_comm, s), tdmInvalidUsage);
  EXPECT_RESULT(tdmAllReduce(host_send.data(), host_recv.data(), k, f, tdmSum, g_comm, s),
                tdmInvalidUsage);
  // Overlaps other than NCCL's in-place forms.
  EXPECT_RESULT(tdmAllReduce(recv, recv + 4, k, f, tdmSum, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmAllGather(recv + (me * k + 1) * 4, recv, k, f, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmReduceScatter(recv, recv + (me * k + 1) * 4, k, f, tdmSum, g_comm, s),
                tdmInvalidArgument);
  // Missing buffers or communicator.
  EXPECT_RESULT(tdmAllReduce(nullptr, recv, k, f, tdmSum, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmAllReduce(send, nullptr, k, f, tdmSum, g_comm, s), tdmInvalidArgument);
  EXPECT_RESULT(tdmAllReduce(send, recv, k, f, tdmSum, nullptr, s), tdmInvalidArgument);
  TDM_OK(tdmRedOpDestroy(float_op, g_comm));

  CUDA_OK(cudaDeviceSynchronize());
  std::vector<uint8_t> got(n * k * 8);
  CUDA_OK(cudaMemcpy(got.data(), recv, got.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::count(got.begin(), got.end(), kPoison), static_cast<long>(got.size()))
      << "recvbuff written by a refused call";
  CUDA_OK(cudaMemcpy(got.data(), send, got.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::count(got.begin(), got.end(), uint8_t{0x3c}), static_cast<long>(got.size()))
      << "sendbuff written by a refused call";
  EXPECT_EQ(std::count(host_recv.begin(), host_recv.end(), 7.0f),
            static_cast<long>(host_recv.size()))
      << "host buffer written by a refused call";
  run_case(make(Coll::kAllReduce, tdmFloat32, kSum, 1023));  // the communicator still works
}

// A call refused inside a group discards the whole group: the valid call
// queued before it never runs, and the communicator stays usable.
TEST_F(Collectives, RefusedCallDiscardsItsGroup) {
  DeviceAllocs mem;
  Case c = make(Coll::kAllReduce, tdmFloat32, kSum, 1023);
  c.salt = ++g_salt;
  const Bufs b = place(c, mem.alloc());
  upload(c, b);
  CUDA_OK(cudaStreamSynchronize(g_stream));
  TDM_OK(tdmGroupStart());
  issue_ok(c, b);
  EXPECT_RESULT(tdmAllReduce(b.send, b.recv, c.count, tdmNumTypes, tdmSum, g_comm, g_stream),
                tdmInvalidArgument);
  EXPECT_RESULT(tdmGroupEnd(), tdmInvalidUsage);
  CUDA_OK(cudaDeviceSynchronize());
  const std::vector<uint8_t> got = read_back(b.b);
  CUDA_OK(cudaStreamSynchronize(g_stream));
  EXPECT_EQ(std::count(got.begin(), got.end(), kPoison), static_cast<long>(got.size()))
      << "the discarded group wrote recvbuff";
  run_case(c, mem.alloc());
}

TEST_F(Collectives, PointToPointMisuse) {
  const int n = g_nranks, me = g_rank, next = (me + 1) % n, prev = (me + n - 1) % n;
  const size_t m = 16, messages = 33;  // 33 sends + 33 receives: past 64 operations
  DeviceAllocs mem;
  uint8_t* send = mem(0, messages * m * 4);
  uint8_t* recv = mem(1, messages * m * 4);
  cudaStream_t other = nullptr;
  CUDA_OK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
  if (!all_agree(send && recv && other)) return;
  Case pattern = make(Coll::kAllGather, tdmInt32, kNoOp, 0);
  pattern.salt = ++g_salt;
  std::vector<uint8_t> image(messages * m * 4);
  for (size_t j = 0; j < messages * m; ++j) store(&image[j * 4], input(pattern, me, j).bits, 4);
  CUDA_OK(cudaMemcpy(send, image.data(), image.size(), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(recv, kPoison, image.size()));

  // A send to self needs its receive in the same group.
  EXPECT_RESULT(tdmSend(send, m, tdmInt32, me, g_comm, g_stream), tdmInvalidUsage);
  // A receive from self must match the send's size.
  TDM_OK(tdmGroupStart());
  TDM_OK(tdmSend(send, m, tdmInt32, me, g_comm, g_stream));
  TDM_OK(tdmRecv(recv, m - 1, tdmInt32, me, g_comm, g_stream));
  EXPECT_RESULT(tdmGroupEnd(), tdmInvalidArgument);
  // One group's sends and receives on one stream.
  TDM_OK(tdmGroupStart());
  TDM_OK(tdmSend(send, m, tdmInt32, next, g_comm, g_stream));
  TDM_OK(tdmRecv(recv, m, tdmInt32, prev, g_comm, other));
  EXPECT_RESULT(tdmGroupEnd(), tdmInvalidUsage);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<uint8_t> got(image.size());
  CUDA_OK(cudaMemcpy(got.data(), recv, got.size(), cudaMemcpyDeviceToHost));
  EXPECT_EQ(std::count(got.begin(), got.end(), kPoison), static_cast<long>(got.size()))
      << "a refused group wrote its receive buffer";

  // More operations than one launch carries: done right, or refused on every
  // rank (never on some ranks only, which would leave the others waiting).
  TDM_OK(tdmGroupStart());
  for (size_t i = 0; i < messages; ++i) {
    TDM_OK(tdmSend(send + i * m * 4, m, tdmInt32, next, g_comm, g_stream));
    TDM_OK(tdmRecv(recv + i * m * 4, m, tdmInt32, prev, g_comm, g_stream));
  }
  const tdmResult_t result = tdmGroupEnd();
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<int32_t> results(n, -1);
  const int32_t mine = result;
  TDM_OK(tdmAllGather(&mine, results.data(), 1, tdmInt32, g_comm, nullptr));
  EXPECT_EQ(std::count(results.begin(), results.end(), mine), n) << "ranks disagree";
  EXPECT_TRUE(result == tdmSuccess || result == tdmInvalidUsage) << result_name(result);
  CUDA_OK(cudaMemcpy(got.data(), recv, got.size(), cudaMemcpyDeviceToHost));
  size_t bad = 0;
  for (size_t j = 0; j < messages * m; ++j) {
    const uint64_t want =
        result == tdmSuccess ? input(pattern, prev, j).bits : poison_bits(tdmInt32);
    bad += load(&got[j * 4], 4) != want;
  }
  EXPECT_EQ(bad, 0u) << messages << " messages each way in one group: " << result_name(result);
  if (other) CUDA_OK(cudaStreamDestroy(other));
  run_case(make(Coll::kRing, tdmInt32, kNoOp, 1023));  // the communicator still works
}

}  // namespace
}  // namespace collectives_gpu_test
