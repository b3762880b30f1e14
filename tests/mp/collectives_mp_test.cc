// Every collective x data type x reduction op x in/out-of-place x count, on
// the ranks of the launcher that started this binary (mpirun or tandemrun),
// against a reference each rank computes on its own: exact modular integer
// arithmetic, and for floats inputs chosen so that the exact result is
// representable (a misplaced or mis-reduced element cannot pass); premulsum
// on narrow floats allows the rounding bound. Outputs are poisoned and guard
// bytes checked; all ranks agree on the verdict.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>

#include "mp_common.h"
#include "tests/common/reference.h"
#include "tests/common/seeded_data.h"

namespace {

using namespace mp;

constexpr tdmDataType_t kTypes[] = {tdmInt8,    tdmUint8,    tdmInt32,      tdmUint32,
                                    tdmInt64,   tdmUint64,   tdmFloat16,    tdmFloat32,
                                    tdmFloat64, tdmBfloat16, tdmFloat8e4m3, tdmFloat8e5m2};
// Built-in ops plus -1 for premulsum.
constexpr int kOps[] = {tdmSum, tdmProd, tdmMax, tdmMin, tdmAvg, -1};
const char* op_label(int op) {
  static const char* names[] = {"sum", "prod", "max", "min", "avg"};
  return op < 0 ? "premulsum" : names[op];
}

std::vector<size_t> counts() {
  // Large enough to cross ring slices at the default 1 MiB link size for wide types.
  return {0, 1, 1023, 77777};
}

uint64_t hash(uint64_t seed, int rank, size_t i, int salt) {
  using tdm::test::fmix64;
  return fmix64(seed ^ fmix64(uint64_t(rank) * 1000003 + i * 7919 + uint64_t(salt) * 104729));
}

// Rank r's element i of a reduction input, as raw bits of type t.
uint64_t reduction_input(tdmDataType_t t, int op, int r, size_t i, int salt) {
  uint64_t h = hash(shared_seed(), r, i, salt);
  if (!is_float(t)) return h;  // integers: any bits, exact modular reference
  return tdm::test::encode(t, tdm::test::reduction_value(t, op == tdmProd, h));
}

// Premulsum scalar of rank r (a value of type t): 1 or 2, exact everywhere.
double premul_scalar(int r) { return r % 2 == 0 ? 1.0 : 2.0; }

struct Expected {
  uint64_t bits = 0;     // integers: exact
  double value = 0;      // floats
  double tolerance = 0;  // floats
};

// Reference reduction over ranks of element `index` of each rank's input.
Expected reference(tdmDataType_t t, int op, int n, size_t index, int salt) {
  const int harness_op = op < 0 ? tdm::test::kPreMulSum : op;
  Expected e;
  if (!is_float(t)) {
    e.bits = tdm::test::reduce_int(
        t, harness_op, n, [&](int r) { return reduction_input(t, op, r, index, salt); },
        [](int r) { return premul_scalar(r); });
    return e;
  }
  const auto red = tdm::test::reduce_float(harness_op, n, [&](int r) {
    const double x = tdm::test::decode(t, reduction_input(t, op, r, index, salt));
    return op < 0 ? round_to(t, x * premul_scalar(r)) : x;
  });
  e.value = red.value;
  if (op == tdmAvg && t != tdmFloat64) e.value = round_to(t, double(float(red.sum) / float(n)));
  // Sums of the chosen inputs are exact; premulsum on narrow types may round each step.
  if (op < 0 && type_size(t) <= 2) e.tolerance = (n + 1) * unit_roundoff(t) * red.magnitude;
  return e;
}

bool matches(tdmDataType_t t, const void* out, size_t i, const Expected& e) {
  if (!is_float(t)) return get_bits(t, out, i) == e.bits;
  double got = get(t, out, i);
  return std::fabs(got - e.value) <= e.tolerance;
}

std::string describe(tdmDataType_t t, int op, size_t count, bool in_place) {
  std::ostringstream s;
  s << type_name(t) << "/" << op_label(op) << " count " << count
    << (in_place ? " in-place" : " out-of-place") << " (seed " << shared_seed() << ")";
  return s.str();
}

// Creates the op for a call: built-in or a premulsum with this rank's scalar.
struct OpHandle {
  tdmRedOp_t op = tdmSum;
  tdmComm_t comm = nullptr;
  bool custom = false;
  OpHandle(int which, tdmDataType_t t, tdmComm_t c, int rank) : comm(c) {
    if (which >= 0) {
      op = static_cast<tdmRedOp_t>(which);
      return;
    }
    std::vector<std::byte> scalar(8);
    put(t, scalar.data(), 0, premul_scalar(rank));
    EXPECT_EQ(tdmRedOpCreatePreMulSum(&op, scalar.data(), t, tdmScalarHostImmediate, comm),
              tdmSuccess);
    custom = true;
  }
  ~OpHandle() {
    if (custom) tdmRedOpDestroy(op, comm);
  }
};

// Runs `body` on every type/op/count/placement; body returns "" or a failure.
using Body = std::function<std::string(tdmComm_t, tdmDataType_t, int, size_t, bool)>;
void sweep(tdmComm_t comm, bool reduces, const Body& body) {
  bool ok = true;
  for (tdmDataType_t t : kTypes)
    for (int op : kOps) {
      if (!reduces && op != tdmSum) continue;
      for (size_t count : counts())
        for (bool in_place : {false, true}) {
          std::string failure = body(comm, t, op, count, in_place);
          if (!failure.empty()) {
            ADD_FAILURE() << describe(t, op, count, in_place) << ": " << failure;
            ok = false;
          }
        }
    }
  EXPECT_TRUE(all_passed(comm, ok)) << "a rank failed (see its output)";
}

std::string call_error(tdmResult_t rc, tdmComm_t comm) {
  return rc == tdmSuccess ? "" : std::string(tdmGetErrorString(rc)) + ": " + tdmGetLastError(comm);
}

int rank_of(tdmComm_t c) {
  int r;
  tdmCommUserRank(c, &r);
  return r;
}
int size_of(tdmComm_t c) {
  int n;
  tdmCommCount(c, &n);
  return n;
}

// ---- reductions ----

std::string run_allreduce(tdmComm_t comm, tdmDataType_t t, int op, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const size_t bytes = count * type_size(t);
  Buffer in(bytes), out(bytes);
  for (size_t i = 0; i < count; ++i) put_bits(t, in.data(), i, reduction_input(t, op, rank, i, 1));
  Buffer& result = in_place ? in : out;
  OpHandle h(op, t, comm, rank);
  auto rc = tdmAllReduce(in.data(), result.data(), count, t, h.op, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!result.guard_intact() || !in.guard_intact()) return "wrote past the buffer";
  for (size_t i = 0; i < count; ++i)
    if (!matches(t, result.data(), i, reference(t, op, n, i, 1)))
      return "element " + std::to_string(i) + " is " + std::to_string(get(t, result.data(), i));
  return "";
}

std::string run_reduce(tdmComm_t comm, tdmDataType_t t, int op, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const int root = n - 1;
  const size_t bytes = count * type_size(t);
  Buffer in(bytes), out(bytes);
  for (size_t i = 0; i < count; ++i) put_bits(t, in.data(), i, reduction_input(t, op, rank, i, 2));
  Buffer& result = in_place ? in : out;
  OpHandle h(op, t, comm, rank);
  auto rc = tdmReduce(in.data(), result.data(), count, t, h.op, root, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!result.guard_intact()) return "wrote past the buffer";
  if (rank != root) {
    // Non-roots' receive buffers are not touched.
    if (!in_place)
      for (size_t k = 0; k < bytes; ++k)
        if (out.bytes[k] != std::byte{0xff}) return "non-root receive buffer was written";
    return "";
  }
  for (size_t i = 0; i < count; ++i)
    if (!matches(t, result.data(), i, reference(t, op, n, i, 2)))
      return "element " + std::to_string(i) + " is " + std::to_string(get(t, result.data(), i));
  return "";
}

std::string run_reduce_scatter(tdmComm_t comm, tdmDataType_t t, int op, size_t count,
                               bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const size_t elem = type_size(t);
  Buffer in(count * n * elem), out(count * elem);
  for (size_t i = 0; i < count * n; ++i)
    put_bits(t, in.data(), i, reduction_input(t, op, rank, i, 3));
  std::byte* recv = in_place ? in.bytes.data() + rank * count * elem : out.bytes.data();
  OpHandle h(op, t, comm, rank);
  auto rc = tdmReduceScatter(in.data(), recv, count, t, h.op, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!in.guard_intact() || !out.guard_intact()) return "wrote past the buffer";
  for (size_t i = 0; i < count; ++i)
    if (!matches(t, recv, i, reference(t, op, n, rank * count + i, 3)))
      return "element " + std::to_string(i) + " is " + std::to_string(get(t, recv, i));
  return "";
}

// ---- data movement (raw bits, compared exactly) ----

uint64_t movement_input(tdmDataType_t t, int r, size_t i) {
  return truncate(t, hash(shared_seed(), r, i, 9));
}

std::string check_block(tdmDataType_t t, const void* out, size_t offset, int source,
                        size_t source_offset, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (get_bits(t, out, offset + i) != movement_input(t, source, source_offset + i))
      return "element " + std::to_string(offset + i) + " does not hold rank " +
             std::to_string(source) + "'s element " + std::to_string(source_offset + i);
  return "";
}

std::string run_allgather(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const size_t elem = type_size(t);
  Buffer in(count * elem), out(count * n * elem);
  std::byte* send = in_place ? out.bytes.data() + rank * count * elem : in.bytes.data();
  for (size_t i = 0; i < count; ++i) put_bits(t, send, i, movement_input(t, rank, i));
  auto rc = tdmAllGather(send, out.data(), count, t, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!out.guard_intact()) return "wrote past the buffer";
  for (int q = 0; q < n; ++q)
    if (auto f = check_block(t, out.data(), q * count, q, 0, count); !f.empty()) return f;
  return "";
}

std::string run_broadcast(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const int root = n / 2;
  const size_t elem = type_size(t);
  Buffer in(count * elem), out(count * elem);
  Buffer& src = in_place ? out : in;
  if (rank == root)
    for (size_t i = 0; i < count; ++i) put_bits(t, src.data(), i, movement_input(t, root, i));
  auto rc = tdmBroadcast(src.data(), out.data(), count, t, root, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!out.guard_intact()) return "wrote past the buffer";
  return check_block(t, out.data(), 0, root, 0, count);
}

std::string run_alltoall(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const size_t elem = type_size(t);
  Buffer in(count * n * elem), out(count * n * elem);
  for (size_t i = 0; i < count * n; ++i) put_bits(t, in.data(), i, movement_input(t, rank, i));
  Buffer& result = in_place ? in : out;
  auto rc = tdmAlltoAll(in.data(), result.data(), count, t, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!result.guard_intact()) return "wrote past the buffer";
  for (int q = 0; q < n; ++q)
    if (auto f = check_block(t, result.data(), q * count, q, rank * count, count); !f.empty())
      return f;
  return "";
}

std::string run_gather(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const int root = 0;
  const size_t elem = type_size(t);
  Buffer in(count * elem), out(count * n * elem);
  std::byte* send =
      in_place && rank == root ? out.bytes.data() + rank * count * elem : in.bytes.data();
  for (size_t i = 0; i < count; ++i) put_bits(t, send, i, movement_input(t, rank, i));
  auto rc = tdmGather(send, out.data(), count, t, root, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!out.guard_intact()) return "wrote past the buffer";
  if (rank != root) return "";
  for (int q = 0; q < n; ++q)
    if (auto f = check_block(t, out.data(), q * count, q, 0, count); !f.empty()) return f;
  return "";
}

std::string run_scatter(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool in_place) {
  const int rank = rank_of(comm), n = size_of(comm);
  const int root = n - 1;
  const size_t elem = type_size(t);
  Buffer in(count * n * elem), out(count * elem);
  if (rank == root)
    for (size_t i = 0; i < count * n; ++i) put_bits(t, in.data(), i, movement_input(t, root, i));
  std::byte* recv =
      in_place && rank == root ? in.bytes.data() + rank * count * elem : out.bytes.data();
  auto rc = tdmScatter(in.data(), recv, count, t, root, comm, nullptr);
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!out.guard_intact() || !in.guard_intact()) return "wrote past the buffer";
  return check_block(t, recv, 0, root, rank * count, count);
}

// Send/recv inside a group: every rank sends to every rank (itself included)
// before receiving anything, which deadlocks without group semantics.
std::string run_sendrecv(tdmComm_t comm, tdmDataType_t t, int, size_t count, bool) {
  const int rank = rank_of(comm), n = size_of(comm);
  const size_t elem = type_size(t);
  Buffer in(count * n * elem), out(count * n * elem);
  for (size_t i = 0; i < count * n; ++i) put_bits(t, in.data(), i, movement_input(t, rank, i));
  tdmGroupStart();
  for (int d = 0; d < n; ++d) {
    int to = (rank + d) % n;
    tdmSend(in.bytes.data() + to * count * elem, count, t, to, comm, nullptr);
  }
  for (int d = 0; d < n; ++d) {
    int from = (rank + n - d) % n;
    tdmRecv(out.bytes.data() + from * count * elem, count, t, from, comm, nullptr);
  }
  auto rc = tdmGroupEnd();
  if (rc != tdmSuccess) return call_error(rc, comm);
  if (!out.guard_intact()) return "wrote past the buffer";
  for (int q = 0; q < n; ++q)
    if (auto f = check_block(t, out.data(), q * count, q, rank * count, count); !f.empty())
      return f;
  return "";
}

TEST(Collectives, AllReduce) { sweep(world(), true, run_allreduce); }
TEST(Collectives, Reduce) { sweep(world(), true, run_reduce); }
TEST(Collectives, ReduceScatter) { sweep(world(), true, run_reduce_scatter); }
TEST(Collectives, AllGather) { sweep(world(), false, run_allgather); }
TEST(Collectives, Broadcast) { sweep(world(), false, run_broadcast); }
TEST(Collectives, AlltoAll) { sweep(world(), false, run_alltoall); }
TEST(Collectives, Gather) { sweep(world(), false, run_gather); }
TEST(Collectives, Scatter) { sweep(world(), false, run_scatter); }
TEST(Collectives, GroupedSendRecvAllPairs) { sweep(world(), false, run_sendrecv); }

// A random permutation of sends and receives, issued in shuffled order inside one group.
TEST(PointToPoint, RandomPairingInOneGroup) {
  tdmComm_t comm = world();
  const int rank = rank_of(comm), n = size_of(comm);
  std::mt19937_64 rng(shared_seed());
  std::vector<int> target(n);
  std::iota(target.begin(), target.end(), 0);
  std::shuffle(target.begin(), target.end(), rng);  // rank r sends to target[r]
  int source = int(std::find(target.begin(), target.end(), rank) - target.begin());
  const size_t count = 100003;
  std::vector<uint64_t> send(count), recv(count, ~0ull);
  for (size_t i = 0; i < count; ++i) send[i] = movement_input(tdmUint64, rank, i);
  tdmGroupStart();
  if (rng() % 2) {
    tdmRecv(recv.data(), count, tdmUint64, source, comm, nullptr);
    tdmSend(send.data(), count, tdmUint64, target[rank], comm, nullptr);
  } else {
    tdmSend(send.data(), count, tdmUint64, target[rank], comm, nullptr);
    tdmRecv(recv.data(), count, tdmUint64, source, comm, nullptr);
  }
  ASSERT_EQ(tdmGroupEnd(), tdmSuccess) << tdmGetLastError(comm);
  bool ok = true;
  for (size_t i = 0; i < count; ++i) ok = ok && recv[i] == movement_input(tdmUint64, source, i);
  EXPECT_TRUE(all_passed(comm, ok));
}

// Bit-identical allreduce results on every rank (the one-shot reduces in rank
// order, the ring reduces each chunk once).
TEST(Collectives, AllReduceIsBitIdenticalAcrossRanks) {
  tdmComm_t comm = world();
  const int rank = rank_of(comm), n = size_of(comm);
  for (size_t count : {size_t(1000), size_t(300000)}) {
    std::vector<float> in(count), out(count);
    std::mt19937 rng(unsigned(shared_seed()) + rank);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (float& v : in) v = dist(rng);  // inexact sums: order matters
    ASSERT_EQ(tdmAllReduce(in.data(), out.data(), count, tdmFloat32, tdmSum, comm, nullptr),
              tdmSuccess);
    std::vector<float> all(count * n);
    ASSERT_EQ(tdmAllGather(out.data(), all.data(), count, tdmFloat32, comm, nullptr), tdmSuccess);
    bool same = true;
    for (int q = 1; q < n; ++q)
      same = same && std::memcmp(all.data(), all.data() + q * count, count * 4) == 0;
    EXPECT_TRUE(same) << "ranks hold different bits for count " << count;
  }
}

// Sub-communicators: split into two colors (and NOCOLOR for one rank when possible).
TEST(Split, CollectivesOnSubCommunicators) {
  tdmComm_t comm = world();
  const int rank = rank_of(comm), n = size_of(comm);
  int color = n >= 3 && rank == n - 1 ? TDM_SPLIT_NOCOLOR : rank % 2;
  tdmComm_t sub = nullptr;
  ASSERT_EQ(tdmCommSplit(comm, color, -rank, &sub, nullptr), tdmSuccess) << tdmGetLastError(comm);
  if (color == TDM_SPLIT_NOCOLOR) {
    EXPECT_EQ(sub, nullptr);
  } else {
    ASSERT_NE(sub, nullptr);
    int members = 0;
    for (int r = 0; r < n; ++r) members += (n >= 3 && r == n - 1) ? 0 : (r % 2 == color);
    EXPECT_EQ(size_of(sub), members);
    // Keys -rank order members by descending world rank.
    int expected_rank = 0;
    for (int r = n - 1; r > rank; --r)
      expected_rank += (n >= 3 && r == n - 1) ? 0 : (r % 2 == color);
    EXPECT_EQ(rank_of(sub), expected_rank);
    std::string failure;
    for (size_t count : {size_t(5), size_t(40000)}) {
      for (auto [name, f] :
           {std::pair{"allreduce", run_allreduce(sub, tdmFloat32, tdmSum, count, false)},
            std::pair{"allgather", run_allgather(sub, tdmInt32, tdmSum, count, true)},
            std::pair{"reduce_scatter premulsum bf16",
                      run_reduce_scatter(sub, tdmBfloat16, -1, count, false)}})
        if (!f.empty())
          failure += std::string(name) + " count " + std::to_string(count) + ": " + f + "; ";
    }
    EXPECT_EQ(failure, "");
    EXPECT_TRUE(all_passed(sub, failure.empty()));
    EXPECT_EQ(tdmCommDestroy(sub), tdmSuccess);
  }
  EXPECT_TRUE(all_passed(comm, !HasFailure()));
}

// 64 MiB and more: float32 allreduce and one allgather (run by one 4-rank test).
TEST(Large, AllReduceAndAllGather64MiB) {
  tdmComm_t comm = world();
  const size_t count = (64u << 20) / 4 + 5;  // just over 64 MiB, odd
  EXPECT_EQ(run_allreduce(comm, tdmFloat32, tdmSum, count, false), "");
  EXPECT_EQ(run_allreduce(comm, tdmFloat32, tdmSum, count, true), "");
  EXPECT_EQ(run_allgather(comm, tdmUint8, tdmSum, (64u << 20) / size_of(comm) + 3, false), "");
  EXPECT_TRUE(all_passed(comm, !HasFailure()));
}

}  // namespace
