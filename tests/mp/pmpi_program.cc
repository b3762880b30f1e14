// A plain MPI program (it does not know Tandem) that checks every collective
// libtandem_pmpi.so intercepts, on host buffers: pmpi_test.sh runs it with the
// plugin preloaded and without, and reads the plugin's report to see which
// calls Tandem carried. Exit status 0 when every result matches.
//
// Inputs are small integers from a hash of (seed, call, rank, index), so each
// rank computes every expected result on its own, exactly, in any type: the
// reference shares nothing with the code under test. The seed is fresh per
// run (rank 0's clock, sent with PMPI_Bcast, which no plugin intercepts) and
// printed with every failure. Outputs are poisoned before each call, and a
// guard past each output must stay poisoned.
#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

uint64_t g_seed = 0;
int g_world_rank = 0;
int g_failures = 0;
constexpr size_t kGuard = 16;            // elements past each output that must stay poisoned
constexpr unsigned char kPoison = 0x5a;  // no input value has this byte pattern in any type used

void fail(const char* format, ...) {
  if (++g_failures > 20) return;
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  std::fprintf(stderr, "FAIL rank %d seed %" PRIu64 ": %s\n", g_world_rank, g_seed, text);
}

uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  return k ^ (k >> 33);
}

// The input of rank `rank`, element `i`, of call `tag`: an integer in [-20, 20].
int value(int tag, int rank, size_t i) {
  const uint64_t h = fmix64(g_seed ^ (uint64_t(tag) << 48) ^ (uint64_t(rank) << 32) ^ i);
  return static_cast<int>(h % 41) - 20;
}

struct Ctx {
  MPI_Comm comm;
  int rank, size;
  const char* name;
};

template <typename T>
std::vector<T> poisoned(size_t n) {
  std::vector<T> v(n + kGuard);
  std::memset(v.data(), kPoison, v.size() * sizeof(T));
  return v;
}

// Bit-exact comparisons: every expected value is exact, and poison is a bit
// pattern (as a float it may be any number).
template <typename T>
std::array<unsigned char, sizeof(T)> bits(const T& x) {
  std::array<unsigned char, sizeof(T)> b;
  std::memcpy(b.data(), &x, sizeof(T));
  return b;
}

template <typename T>
bool is_poison(const T& x) {
  std::array<unsigned char, sizeof(T)> p;
  p.fill(kPoison);
  return bits(x) == p;
}

template <typename T>
void check_guard(const std::vector<T>& v, size_t n, const Ctx& c, const char* what) {
  for (size_t i = n; i < v.size(); ++i)
    if (!is_poison(v[i])) {
      fail("%s on %s: wrote past its output (element %zu of %zu)", what, c.name, i, n);
      return;
    }
}

template <typename T>
void expect_equal(const std::vector<T>& got, const std::vector<T>& want, const Ctx& c,
                  const char* what, size_t n) {
  for (size_t i = 0; i < want.size(); ++i)
    if (bits(got[i]) != bits(want[i])) {
      fail("%s on %s, count %zu: element %zu is %g, expected %g", what, c.name, n, i,
           double(got[i]), double(want[i]));
      return;
    }
  check_guard(got, want.size(), c, what);
}

enum class Op { kSum, kProd, kMax, kMin };
MPI_Op mpi_op(Op op) {
  switch (op) {
    case Op::kSum:
      return MPI_SUM;
    case Op::kProd:
      return MPI_PROD;
    case Op::kMax:
      return MPI_MAX;
    default:
      return MPI_MIN;
  }
}

// Input of a reduction as T: products get factors in [1, 3] so 8 ranks do not
// overflow; unsigned types get [0, 40].
template <typename T>
T input(Op op, int tag, int rank, size_t i) {
  int v = value(tag, rank, i);
  if (op == Op::kProd)
    v = (v % 3 + 3) % 3 + 1;
  else if (T(-1) > T(0))
    v += 20;
  return static_cast<T>(v);
}

template <typename T>
T reduced(Op op, int tag, int ranks, size_t i) {
  T acc = input<T>(op, tag, 0, i);
  for (int r = 1; r < ranks; ++r) {
    const T x = input<T>(op, tag, r, i);
    switch (op) {
      case Op::kSum:
        acc = static_cast<T>(acc + x);
        break;
      case Op::kProd:
        acc = static_cast<T>(acc * x);
        break;
      case Op::kMax:
        acc = std::max(acc, x);
        break;
      case Op::kMin:
        acc = std::min(acc, x);
        break;
    }
  }
  return acc;
}

// A fresh input set per call: ++g_tag. Every rank of a communicator must
// count alike, so each group of calls starts from a number of its own.
int g_tag = 0;
void start_tags(const char* name, size_t n) {
  uint64_t h = n;
  for (const char* p = name; *p; ++p) h = fmix64(h ^ static_cast<unsigned char>(*p));
  g_tag = static_cast<int>(h & 0x3fffffff);
}

template <typename T>
void allreduce(const Ctx& c, MPI_Datatype type, Op op, size_t n, bool in_place) {
  const int tag = ++g_tag;
  std::vector<T> send(n), want(n);
  for (size_t i = 0; i < n; ++i) send[i] = input<T>(op, tag, c.rank, i);
  for (size_t i = 0; i < n; ++i) want[i] = reduced<T>(op, tag, c.size, i);
  auto recv = poisoned<T>(n);
  if (in_place) std::copy(send.begin(), send.end(), recv.begin());
  MPI_Allreduce(in_place ? MPI_IN_PLACE : send.data(), recv.data(), int(n), type, mpi_op(op),
                c.comm);
  expect_equal(recv, want, c, in_place ? "MPI_Allreduce in place" : "MPI_Allreduce", n);
}

template <typename T>
void reduce(const Ctx& c, MPI_Datatype type, Op op, size_t n, int root, bool in_place) {
  const int tag = ++g_tag;
  const bool at_root = c.rank == root;
  std::vector<T> send(n), want(n);
  for (size_t i = 0; i < n; ++i) send[i] = input<T>(op, tag, c.rank, i);
  for (size_t i = 0; i < n; ++i) want[i] = reduced<T>(op, tag, c.size, i);
  auto recv = poisoned<T>(n);
  if (in_place && at_root) std::copy(send.begin(), send.end(), recv.begin());
  MPI_Reduce(in_place && at_root ? MPI_IN_PLACE : send.data(), recv.data(), int(n), type,
             mpi_op(op), root, c.comm);
  if (at_root) expect_equal(recv, want, c, in_place ? "MPI_Reduce in place" : "MPI_Reduce", n);
}

// Reduce-scatter: rank r keeps counts[r] elements (all equal: the _block form).
void reduce_scatter(const Ctx& c, const std::vector<int>& counts, bool block, bool in_place) {
  const int tag = ++g_tag;
  size_t total = 0, offset = 0;
  for (int r = 0; r < c.size; ++r) {
    if (r < c.rank) offset += counts[r];
    total += counts[r];
  }
  const size_t own = counts[c.rank];
  std::vector<double> send(total), want(own);
  for (size_t i = 0; i < total; ++i) send[i] = input<double>(Op::kSum, tag, c.rank, i);
  for (size_t i = 0; i < own; ++i) want[i] = reduced<double>(Op::kSum, tag, c.size, offset + i);
  auto recv = poisoned<double>(in_place ? total : own);
  if (in_place) std::copy(send.begin(), send.end(), recv.begin());
  const void* s = in_place ? MPI_IN_PLACE : send.data();
  if (block)
    MPI_Reduce_scatter_block(s, recv.data(), counts[0], MPI_DOUBLE, MPI_SUM, c.comm);
  else
    MPI_Reduce_scatter(s, recv.data(), counts.data(), MPI_DOUBLE, MPI_SUM, c.comm);
  recv.resize(in_place ? own + kGuard : recv.size());  // in place, the rest is scratch
  if (in_place)
    std::fill_n(reinterpret_cast<unsigned char*>(recv.data() + own), kGuard * 8, kPoison);
  expect_equal(recv, want, c,
               block ? (in_place ? "MPI_Reduce_scatter_block in place" : "MPI_Reduce_scatter_block")
                     : (in_place ? "MPI_Reduce_scatter in place" : "MPI_Reduce_scatter"),
               own);
}

void allgather(const Ctx& c, size_t n, bool in_place) {
  const int tag = ++g_tag;
  std::vector<int> send(n), want(n * c.size);
  for (size_t i = 0; i < n; ++i) send[i] = value(tag, c.rank, i);
  for (int r = 0; r < c.size; ++r)
    for (size_t i = 0; i < n; ++i) want[r * n + i] = value(tag, r, i);
  auto recv = poisoned<int>(n * c.size);
  if (in_place) std::copy(send.begin(), send.end(), recv.begin() + c.rank * n);
  MPI_Allgather(in_place ? MPI_IN_PLACE : send.data(), int(n), MPI_INT, recv.data(), int(n),
                MPI_INT, c.comm);
  expect_equal(recv, want, c, in_place ? "MPI_Allgather in place" : "MPI_Allgather", n);
}

// The block rank `from` sends to rank `to`.
int a2a(int tag, int from, int to, int size, size_t i) { return value(tag, from * size + to, i); }

void alltoall(const Ctx& c, size_t n, bool in_place) {
  const int tag = ++g_tag;
  std::vector<float> send(n * c.size), want(n * c.size);
  for (int d = 0; d < c.size; ++d)
    for (size_t i = 0; i < n; ++i) {
      send[d * n + i] = float(a2a(tag, c.rank, d, c.size, i));
      want[d * n + i] = float(a2a(tag, d, c.rank, c.size, i));
    }
  auto recv = poisoned<float>(n * c.size);
  if (in_place) std::copy(send.begin(), send.end(), recv.begin());
  MPI_Alltoall(in_place ? MPI_IN_PLACE : send.data(), int(n), MPI_FLOAT, recv.data(), int(n),
               MPI_FLOAT, c.comm);
  expect_equal(recv, want, c, in_place ? "MPI_Alltoall in place" : "MPI_Alltoall", n);
}

void bcast(const Ctx& c, size_t n, int root) {
  const int tag = ++g_tag;
  std::vector<char> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = char(value(tag, root, i));
  auto buf = poisoned<char>(n);
  if (c.rank == root) std::copy(want.begin(), want.end(), buf.begin());
  MPI_Bcast(buf.data(), int(n), MPI_CHAR, root, c.comm);
  expect_equal(buf, want, c, "MPI_Bcast", n);
}

void gather(const Ctx& c, size_t n, int root, bool in_place) {
  const int tag = ++g_tag;
  const bool at_root = c.rank == root;
  std::vector<long> send(n), want(n * c.size);
  for (size_t i = 0; i < n; ++i) send[i] = value(tag, c.rank, i);
  for (int r = 0; r < c.size; ++r)
    for (size_t i = 0; i < n; ++i) want[r * n + i] = value(tag, r, i);
  auto recv = poisoned<long>(n * c.size);
  if (in_place && at_root) std::copy(send.begin(), send.end(), recv.begin() + c.rank * n);
  MPI_Gather(in_place && at_root ? MPI_IN_PLACE : send.data(), int(n), MPI_LONG, recv.data(),
             int(n), MPI_LONG, root, c.comm);
  if (at_root) expect_equal(recv, want, c, in_place ? "MPI_Gather in place" : "MPI_Gather", n);
}

void scatter(const Ctx& c, size_t n, int root, bool in_place) {
  const int tag = ++g_tag;
  const bool at_root = c.rank == root;
  std::vector<int> send(n * c.size), want(n);
  for (int r = 0; r < c.size; ++r)
    for (size_t i = 0; i < n; ++i) send[r * n + i] = value(tag, r, i);
  for (size_t i = 0; i < n; ++i) want[i] = value(tag, c.rank, i);
  auto recv = poisoned<int>(n);
  if (in_place && at_root) {
    // The root keeps its block where it is in the send buffer.
    MPI_Scatter(send.data(), int(n), MPI_INT, MPI_IN_PLACE, int(n), MPI_INT, root, c.comm);
    std::vector<int> own(send.begin() + c.rank * n, send.begin() + (c.rank + 1) * n);
    own.resize(n + kGuard);
    std::memset(own.data() + n, kPoison, kGuard * sizeof(int));
    expect_equal(own, want, c, "MPI_Scatter in place", n);
    return;
  }
  MPI_Scatter(send.data(), int(n), MPI_INT, recv.data(), int(n), MPI_INT, root, c.comm);
  expect_equal(recv, want, c, "MPI_Scatter", n);
}

// Must pass through: a strided (vector) send type.
void allgather_strided(const Ctx& c, size_t n) {
  const int tag = ++g_tag;
  std::vector<int> send(2 * n), want(n * c.size);
  for (size_t i = 0; i < n; ++i) send[2 * i] = value(tag, c.rank, i), send[2 * i + 1] = 999;
  for (int r = 0; r < c.size; ++r)
    for (size_t i = 0; i < n; ++i) want[r * n + i] = value(tag, r, i);
  MPI_Datatype strided;
  MPI_Type_vector(int(n), 1, 2, MPI_INT, &strided);
  MPI_Type_commit(&strided);
  auto recv = poisoned<int>(n * c.size);
  MPI_Allgather(send.data(), 1, strided, recv.data(), int(n), MPI_INT, c.comm);
  MPI_Type_free(&strided);
  expect_equal(recv, want, c, "MPI_Allgather with a vector datatype", n);
}

// Must pass through: a user op (a sum written by hand) and a datatype Tandem
// does not reduce (MPI_SHORT).
void user_op_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  for (int i = 0; i < *len; ++i) static_cast<int*>(inout)[i] += static_cast<int*>(in)[i];
}

void passed_reductions(const Ctx& c, size_t n) {
  int tag = ++g_tag;
  std::vector<int> send(n), want(n);
  for (size_t i = 0; i < n; ++i) send[i] = input<int>(Op::kSum, tag, c.rank, i);
  for (size_t i = 0; i < n; ++i) want[i] = reduced<int>(Op::kSum, tag, c.size, i);
  MPI_Op op;
  MPI_Op_create(user_op_sum, 1, &op);
  auto recv = poisoned<int>(n);
  MPI_Allreduce(send.data(), recv.data(), int(n), MPI_INT, op, c.comm);
  MPI_Op_free(&op);
  expect_equal(recv, want, c, "MPI_Allreduce with a user op", n);
  allreduce<short>(c, MPI_SHORT, Op::kSum, n, false);
}

void everything(const Ctx& c, size_t n) {
  start_tags(c.name, n);
  for (bool in_place : {false, true}) {
    allreduce<int>(c, MPI_INT, Op::kSum, n, in_place);
    allreduce<double>(c, MPI_DOUBLE, Op::kSum, n, in_place);
    allreduce<float>(c, MPI_FLOAT, Op::kMax, n, in_place);
    allreduce<long>(c, MPI_LONG, Op::kMin, n, in_place);
    allreduce<unsigned char>(c, MPI_UNSIGNED_CHAR, Op::kMax, n, in_place);
    allreduce<unsigned>(c, MPI_UNSIGNED, Op::kProd, n, in_place);
    allreduce<int64_t>(c, MPI_INT64_T, Op::kProd, n, in_place);
    for (int root : {0, c.size - 1}) {
      reduce<int>(c, MPI_INT, Op::kSum, n, root, in_place);
      reduce<double>(c, MPI_DOUBLE, Op::kMin, n, root, in_place);
      gather(c, n, root, in_place);
      scatter(c, n, root, in_place);
    }
    reduce_scatter(c, std::vector<int>(c.size, int(n)), true, in_place);
    std::vector<int> uneven(c.size);
    for (int r = 0; r < c.size; ++r) uneven[r] = int(n) + r;
    reduce_scatter(c, uneven, false, in_place);
    reduce_scatter(c, std::vector<int>(c.size, int(n)), false, in_place);
    allgather(c, n, in_place);
    alltoall(c, n, in_place);
  }
  for (int root : {0, c.size / 2}) bcast(c, n, root);
  MPI_Barrier(c.comm);
  if (n > 0) {
    allgather_strided(c, n);
    passed_reductions(c, n);
  }
}

Ctx ctx(MPI_Comm comm, const char* name) {
  Ctx c{comm, 0, 1, name};
  MPI_Comm_rank(comm, &c.rank);
  MPI_Comm_size(comm, &c.size);
  return c;
}

// An intercommunicator (even ranks against odd ones) must pass through: on
// it, MPI_Allreduce gives each group the sum of the other group's inputs.
void intercomm(int world_rank, int world_size) {
  if (world_size < 2) return;
  MPI_Comm half, inter;
  MPI_Comm_split(MPI_COMM_WORLD, world_rank % 2, world_rank, &half);
  MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, world_rank % 2 ? 0 : 1, 7, &inter);
  start_tags("intercomm", 0);
  const int tag = ++g_tag;
  const size_t n = 5;
  std::vector<int> send(n), want(n, 0);
  for (size_t i = 0; i < n; ++i) send[i] = value(tag, world_rank, i);
  for (int r = 0; r < world_size; ++r)
    if (r % 2 != world_rank % 2)
      for (size_t i = 0; i < n; ++i) want[i] += value(tag, r, i);
  auto recv = poisoned<int>(n);
  MPI_Allreduce(send.data(), recv.data(), int(n), MPI_INT, MPI_SUM, inter);
  expect_equal(recv, want, ctx(MPI_COMM_WORLD, "an intercommunicator"), "MPI_Allreduce", n);
  MPI_Comm_free(&inter);
  MPI_Comm_free(&half);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 0)
                           : uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  PMPI_Bcast(&seed, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  g_seed = seed;
  if (g_world_rank == 0)
    std::printf("pmpi_program: %d ranks, seed %" PRIu64 "\n", world_size, g_seed);

  const size_t sizes[] = {0, 1, 7, 1000, 70001};
  Ctx world = ctx(MPI_COMM_WORLD, "MPI_COMM_WORLD");
  for (size_t n : sizes) everything(world, n);

  // Sub-communicators: halves in reversed rank order, a duplicate, all ranks
  // but the first (a size that is no power of two at 4 ranks).
  MPI_Comm halves, dup, tail;
  MPI_Comm_split(MPI_COMM_WORLD, g_world_rank % 2, -g_world_rank, &halves);
  MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  MPI_Comm_split(MPI_COMM_WORLD, g_world_rank == 0 ? MPI_UNDEFINED : 1, 0, &tail);
  for (size_t n : {size_t(7), size_t(1000)}) {
    everything(ctx(halves, "a half in reversed order"), n);
    everything(ctx(dup, "a duplicate of MPI_COMM_WORLD"), n);
    if (tail != MPI_COMM_NULL) everything(ctx(tail, "all ranks but rank 0"), n);
  }
  intercomm(g_world_rank, world_size);
  MPI_Comm_free(&halves);
  MPI_Comm_free(&dup);
  if (tail != MPI_COMM_NULL) MPI_Comm_free(&tail);
  // After the frees MPI may reuse the handles: a new communicator with other
  // members must not find a freed one's Tandem communicator.
  MPI_Comm again;
  MPI_Comm_split(MPI_COMM_WORLD, g_world_rank < world_size / 2 ? 0 : 1, g_world_rank, &again);
  everything(ctx(again, "a split made after frees"), 1000);
  MPI_Comm_free(&again);
  everything(world, 7);

  int failures = g_failures, total = 0;
  PMPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (g_world_rank == 0)
    std::printf("pmpi_program: %s (%d failures)\n", total ? "FAILED" : "all results match", total);
  MPI_Finalize();
  return total ? 1 : 0;
}
