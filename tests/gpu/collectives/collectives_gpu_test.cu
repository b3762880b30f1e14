// Tandem's collectives on CUDA device buffers, one process per rank started
// by mpirun (two ranks per GPU when there are more ranks than GPUs), against
// a reference every rank computes on the CPU.
//
// Each rank draws a seed from the clock and its rank; the seeds are
// allgathered on host memory, so any rank can regenerate any rank's input
// (a counter-based hash of seed, case salt and index) and needs no further
// transfer to know what it must receive. Integer reductions are exact
// (modular sum and product); float inputs are small integers (or +-2, +-1,
// +-1/2 for products) whose sums and products over up to 8 ranks are exact in
// the type whatever the order, so sum, prod, max and min must match the
// double reference exactly; avg may round its quotient (within two half-ulps)
// and premulsum (scalars 2, 1/2, -1, 1) its partial sums (within a bound
// proportional to the magnitude summed). Moving collectives and send/recv
// are compared bit for bit.
//
// Before every call the whole output allocation, including guard bytes before
// and after the payload, is poisoned with 0xA5; afterwards every byte is
// checked: guards must keep the poison, payload must hold exactly what the
// collective defines, and inputs (const in the API) must be unchanged.
//
// Every rank makes the same calls in the same order whatever its own checks
// found (failures are recorded, never returned early), and all ranks agree on
// each test's verdict, so a failure on one rank never leaves another waiting.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/reference.h"
#include "tests/common/seeded_data.h"
#include "tests/common/types.h"
#include "tests/common/world.h"

// Names in gtest's messages (found by argument-dependent lookup: global namespace).
void PrintTo(tdmDataType_t t, std::ostream* os);

namespace {

// ---- process-wide state (set once in main) ----

tdmComm_t g_comm = nullptr;
int g_rank = 0;
int g_nranks = 1;
cudaStream_t g_stream = nullptr;

constexpr uint8_t kPoison = 0xA5;
constexpr size_t kGuard = 512;  // poisoned bytes on each side of every payload

// ---- failure reporting ----

// Every failure of a test is counted; the first few are reported in full (a
// broken kernel fails hundreds of cases alike and would bury the first one).
int g_failures = 0;
constexpr int kMaxReported = 25;

void fail_at(const char* file, int line, const std::string& message) {
  if (++g_failures <= kMaxReported)
    ADD_FAILURE_AT(file, line) << message << " [rank " << g_rank << "]";
}
#define FAIL_CASE(message) fail_at(__FILE__, __LINE__, (message))

const char* result_name(tdmResult_t r) {
  static const char* names[] = {"tdmSuccess",       "tdmUnhandledCudaError", "tdmSystemError",
                                "tdmInternalError", "tdmInvalidArgument",    "tdmInvalidUsage",
                                "tdmRemoteError",   "tdmInProgress"};
  return r >= 0 && r < tdmNumResults ? names[r] : "(not a tdmResult_t)";
}

bool cuda_ok(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return true;
  fail_at(file, line, std::string(what) + ": " + cudaGetErrorString(e));
  return false;
}
bool tdm_is(tdmResult_t got, tdmResult_t want, const char* what, const char* file, int line) {
  if (got == want) return true;
  std::string message =
      std::string(what) + " returned " + result_name(got) + ", want " + result_name(want);
  if (got != tdmSuccess) message += std::string(" (") + tdmGetLastError(nullptr) + ")";
  fail_at(file, line, message);
  return false;
}
#define CUDA_OK(call) cuda_ok((call), #call, __FILE__, __LINE__)
#define TDM_OK(call) tdm_is((call), tdmSuccess, #call, __FILE__, __LINE__)
#define EXPECT_RESULT(call, want) tdm_is((call), (want), #call, __FILE__, __LINE__)

// True only if every rank of `comm` says true (an allreduce on host memory).
bool all_agree(bool mine, tdmComm_t comm = g_comm) {
  int32_t bad = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&bad, &total, 1, tdmInt32, tdmSum, comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "rank %d: verdict allreduce failed: %s\n", g_rank, tdmGetLastError(comm));
    return false;
  }
  return total == 0;
}
void host_barrier() { all_agree(true); }

// ---- data types (the harness's codecs, tests/common) ----

using tdm::test::decode;
using tdm::test::encode;
using tdm::test::is_float;
using tdm::test::is_signed_int;
using tdm::test::truncate;
using tdm::test::type_size;
using tdm::test::unit_roundoff;

// Names in gtest's parameter names, indexed by tdmDataType_t.
constexpr const char* kTypeNames[tdmNumTypes] = {
    "int8",    "uint8",   "int32",    "uint32",     "int64",     "uint64",
    "float16", "float32", "float64", "bfloat16", "float8e4m3", "float8e5m2"};
const char* type_name(tdmDataType_t t) { return kTypeNames[t]; }

constexpr tdmDataType_t kAllTypes[] = {tdmInt8,    tdmUint8,    tdmInt32,      tdmUint32,
                                       tdmInt64,   tdmUint64,   tdmFloat16,    tdmFloat32,
                                       tdmFloat64, tdmBfloat16, tdmFloat8e4m3, tdmFloat8e5m2};

uint64_t poison_bits(tdmDataType_t t) { return truncate(t, 0xA5A5A5A5A5A5A5A5ULL); }

uint64_t load(const uint8_t* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);  // little-endian, like the GPU
  return v;
}
void store(uint8_t* p, uint64_t v, size_t size) { std::memcpy(p, &v, size); }

std::string show(tdmDataType_t t, uint64_t bits) {
  std::ostringstream s;
  if (is_float(t)) s.precision(9);
  s << decode(t, bits) << " (0x" << std::hex << truncate(t, bits) << ")";
  return s.str();
}

// ---- what a case is ----

enum class Coll {
  kAllReduce,
  kReduce,
  kBroadcast,
  kAllGather,
  kReduceScatter,
  kAlltoAll,
  kGather,
  kScatter,
  kRing,      // grouped send/recv: two messages to the next rank, two from the previous
  kAllPairs,  // grouped send/recv with every rank, this one included
  kSelf,      // grouped send to and receive from this rank only
};
constexpr Coll kAllColls[] = {Coll::kAllReduce, Coll::kReduce,        Coll::kBroadcast,
                              Coll::kAllGather, Coll::kReduceScatter, Coll::kAlltoAll,
                              Coll::kGather,    Coll::kScatter,       Coll::kRing,
                              Coll::kAllPairs,  Coll::kSelf};

const char* coll_name(Coll c) {
  static const char* names[] = {"AllReduce",     "Reduce",           "Broadcast",   "AllGather",
                                "ReduceScatter", "AlltoAll",         "Gather",      "Scatter",
                                "SendRecvRing",  "SendRecvAllPairs", "SendRecvSelf"};
  return names[static_cast<int>(c)];
}
void PrintTo(Coll c, std::ostream* os) { *os << coll_name(c); }

bool reduces(Coll c) {
  return c == Coll::kAllReduce || c == Coll::kReduce || c == Coll::kReduceScatter;
}
bool rooted(Coll c) {
  return c == Coll::kReduce || c == Coll::kBroadcast || c == Coll::kGather || c == Coll::kScatter;
}
bool p2p(Coll c) { return c == Coll::kRing || c == Coll::kAllPairs || c == Coll::kSelf; }

// Built-in ops keep their tdmRedOp_t values; premulsum comes in two kinds.
enum Op : int {
  kNoOp = -1,
  kSum = tdmSum,
  kProd = tdmProd,
  kMax = tdmMax,
  kMin = tdmMin,
  kAvg = tdmAvg,
  kPremulHost = 5,    // tdmScalarHostImmediate
  kPremulDevice = 6,  // tdmScalarDevice: a scalar in device memory, read when the call runs
};
constexpr int kAllOps[] = {kSum, kProd, kMax, kMin, kAvg, kPremulHost, kPremulDevice};
const char* op_name(int op) {
  static const char* names[] = {
      "sum", "prod", "max", "min", "avg", "premulsum(host scalar)", "premulsum(device scalar)"};
  return op >= 0 && op <= kPremulDevice ? names[op] : "-";
}
bool premul(int op) { return op == kPremulHost || op == kPremulDevice; }

enum class Place { kOut, kIn, kBcast /* tdmBcast: in place */ };
const char* place_name(Place p) {
  return p == Place::kOut ? "out-of-place" : p == Place::kIn ? "in-place" : "in-place (tdmBcast)";
}

// A communicator with what its ranks need to regenerate each other's data.
struct Ctx {
  tdmComm_t comm = nullptr;
  int n = 1;
  int rank = 0;
  std::vector<uint64_t> seeds;  // per rank of comm
};
Ctx g_world;  // seeds drawn afresh by every test

uint64_t g_salt = 0;  // cases numbered alike on every rank: fresh data for each

struct Case {
  const Ctx* ctx = &g_world;
  Coll coll = Coll::kAllReduce;
  tdmDataType_t type = tdmFloat32;
  int op = kNoOp;
  size_t count = 0;  // NCCL's count argument
  Place place = Place::kOut;
  int root = 0;
  size_t shift = 0;  // payloads start this many elements past an aligned address
  uint64_t salt = 0;
  uint64_t scalar_salt = 0;       // premulsum scalars change with it
  bool null_unused = false;       // pass NULL for buffers the rank does not use
  cudaStream_t stream = nullptr;  // set to g_stream by make()
};

Case make(Coll coll, tdmDataType_t t, int op, size_t count, Place place = Place::kOut, int root = 0,
          const Ctx* ctx = &g_world) {
  Case c;
  c.ctx = ctx;
  c.coll = coll;
  c.type = t;
  c.op = reduces(coll) ? op : kNoOp;
  c.count = count;
  c.place = place;
  c.root = root;
  c.stream = g_stream;
  return c;
}

bool in_place(const Case& c) { return c.place != Place::kOut; }

std::string describe(const Case& c) {
  std::ostringstream s;
  s << coll_name(c.coll) << " " << type_name(c.type);
  if (reduces(c.coll)) s << " " << op_name(c.op);
  s << " count " << c.count << " " << place_name(c.place);
  if (rooted(c.coll)) s << " root " << c.root;
  if (c.shift) s << ", buffers shifted by " << c.shift << " element";
  if (c.null_unused) s << ", NULL for unused buffers";
  if (c.stream == nullptr) s << ", legacy stream";
  if (c.ctx != &g_world) s << ", split communicator";
  s << " (rank " << c.ctx->rank << " of " << c.ctx->n << "; seeds";
  for (uint64_t seed : c.ctx->seeds) s << " 0x" << std::hex << seed << std::dec;
  s << ", salt " << c.salt << ")";
  return s.str();
}

// ---- inputs and reference ----

using tdm::test::fmix64;

// Float inputs of reductions: small integers whose sums over up to 8 ranks
// (the engine's limit) are exact in the type; products draw from powers of
// two, so they are exact too (tdm::test::reduction_value).

struct Elem {
  uint64_t bits;
  double value;  // float reductions only
};

// Element j of the send buffer of rank r (of the case's communicator).
Elem input(const Case& c, int r, uint64_t j) {
  const uint64_t h = fmix64(c.ctx->seeds[r] ^ fmix64(c.salt * 0x9e3779b97f4a7c15ULL + 1) ^
                            fmix64(j + 0x632be59bd9b4e019ULL));
  if (reduces(c.coll) && is_float(c.type)) {
    const double v = tdm::test::reduction_value(c.type, c.op == kProd, h);
    return {encode(c.type, v), v};
  }
  // Integers (any bits: the reference is exact) and moved data (any bits,
  // NaN patterns included: moving must not interpret them).
  uint64_t bits = truncate(c.type, h);
  if (bits == poison_bits(c.type)) bits ^= 1;  // an unwritten element must never pass as data
  return {bits, 0.0};
}

// Premulsum scalar of rank r: exact multipliers, varying by rank and scalar_salt.
double float_scalar(const Case& c, int r) {
  static const double choices[] = {2, 0.5, -1, 1};
  return choices[(static_cast<uint64_t>(r) + c.scalar_salt) % 4];
}
uint64_t int_scalar(const Case& c, int r) {
  return truncate(c.type, static_cast<uint64_t>(r) * 2 + 3 + c.scalar_salt);
}
uint64_t scalar_bits(const Case& c, int r) {
  return is_float(c.type) ? encode(c.type, float_scalar(c, r)) : int_scalar(c, r);
}

struct Want {
  bool approx = false;
  uint64_t bits = 0;  // exact: these bits
  double value = 0;   // approx: within tol of value
  double tol = 0;
  static Want exact(uint64_t b) {
    Want w;
    w.bits = b;
    return w;
  }
  static Want near(double v, double t) {
    Want w;
    w.approx = true;
    w.value = v;
    w.tol = t;
    return w;
  }
};

bool matches(tdmDataType_t t, uint64_t got, const Want& w) {
  if (!w.approx) return truncate(t, got) == truncate(t, w.bits);
  // An unwritten element fails even where the tolerance would cover the
  // poison's value, unless the reference itself rounds to the poison.
  if (truncate(t, got) == poison_bits(t) && encode(t, w.value) != poison_bits(t)) return false;
  return std::fabs(decode(t, got) - w.value) <= w.tol;  // NaN fails
}

std::string show_want(tdmDataType_t t, const Want& w) {
  if (!w.approx) return show(t, w.bits);
  std::ostringstream s;
  s.precision(9);
  s << w.value << " +- " << w.tol;
  return s.str();
}

// Reduction over the ranks of element j of every rank's send buffer, as the
// library defines it: rank order, premulsum scales each rank's own input,
// avg divides the (wrapped, for integers) sum.
Want reduce_want(const Case& c, uint64_t j) {
  const int n = c.ctx->n;
  const tdmDataType_t t = c.type;
  const int op = premul(c.op) ? tdm::test::kPreMulSum : c.op;
  if (!is_float(t)) {
    return Want::exact(tdm::test::reduce_int(
        t, op, n, [&](int r) { return input(c, r, j).bits; },
        [&](int r) { return int_scalar(c, r); }));
  }
  // Premulsum: exact for the chosen scalars.
  const tdm::test::FloatReduction red = tdm::test::reduce_float(op, n, [&](int r) {
    const double x = input(c, r, j).value;
    return premul(c.op) ? x * float_scalar(c, r) : x;
  });
  // Sums and products of these inputs are exact in any order, even with
  // partial results rounded to the type, and max and min pick an input: no
  // tolerance. Avg divides an exact sum: rounded in float then in the type (or
  // exact, for NCCL's scaling of each input by 1/n, when n is a power of two).
  // Premulsum's partial sums may round: bounded by the magnitude summed.
  double tol = 0;
  if (op == kAvg) tol = 2 * unit_roundoff(t) * std::fabs(red.value);
  if (premul(c.op)) tol = (n + 1) * unit_roundoff(t) * red.magnitude;
  return Want::near(red.value, tol);
}

// Element counts of the buffers, NCCL's layouts.
struct Layout {
  size_t send = 0, recv = 0;                 // out of place: elements of each buffer
  size_t buf = 0, send_at = 0, recv_at = 0;  // in place: one buffer, where each part starts
};
size_t ring_second(size_t k) { return k ? k / 2 + 1 : 0; }

Layout layout(const Case& c) {
  const size_t n = c.ctx->n, me = c.ctx->rank, k = c.count;
  switch (c.coll) {
    case Coll::kAllReduce:
    case Coll::kReduce:
    case Coll::kBroadcast:
    case Coll::kSelf:
      return {k, k, k, 0, 0};
    case Coll::kAllGather:
    case Coll::kGather:  // in place: sendbuff == recvbuff + rank * count
      return {k, n * k, n * k, me * k, 0};
    case Coll::kReduceScatter:
    case Coll::kScatter:  // in place: recvbuff == sendbuff + rank * count
      return {n * k, k, n * k, 0, me * k};
    case Coll::kAlltoAll:
    case Coll::kAllPairs:
      return {n * k, n * k, n * k, 0, 0};
    case Coll::kRing: {
      const size_t m = k + ring_second(k);
      return {m, m, m, 0, 0};
    }
  }
  return {};
}

// What element e of the receive buffer must hold; nullopt where the call must
// not write (buffers that only matter on the root).
std::optional<Want> recv_want(const Case& c, size_t e) {
  const int n = c.ctx->n, me = c.ctx->rank;
  const size_t k = c.count;
  const bool is_root = me == c.root;
  auto from = [&](int r, uint64_t j) { return Want::exact(input(c, r, j).bits); };
  switch (c.coll) {
    case Coll::kAllReduce:
      return reduce_want(c, e);
    case Coll::kReduce:
      if (!is_root) return std::nullopt;
      return reduce_want(c, e);
    case Coll::kBroadcast:
      return from(c.root, e);
    case Coll::kAllGather:
      return from(static_cast<int>(e / k), e % k);
    case Coll::kGather:
      if (!is_root) return std::nullopt;
      return from(static_cast<int>(e / k), e % k);
    case Coll::kReduceScatter:
      return reduce_want(c, me * k + e);
    case Coll::kScatter:
      return from(c.root, me * k + e);
    case Coll::kAlltoAll:
    case Coll::kAllPairs:
      return from(static_cast<int>(e / k), me * k + e % k);
    case Coll::kRing:
      return from((me + n - 1) % n, e);
    case Coll::kSelf:
      return from(me, e);
  }
  return std::nullopt;
}

// ---- buffers ----

// One allocation: guard, payload (after `shift` elements), guard.
struct Region {
  uint8_t* base = nullptr;
  size_t bytes = 0;
  size_t payload = 0;  // byte offset of the payload
  size_t elems = 0;
};
struct Bufs {
  Region a, b;             // send and receive buffers; in place, `a` holds both and `b` is unused
  void* scalar = nullptr;  // premulsum scalar in device memory
  void* send = nullptr;
  void* recv = nullptr;
};

// Device memory for a case: slot 0 (send or in-place), 1 (receive), 2 (scalar).
using Alloc = std::function<uint8_t*(int slot, size_t bytes)>;

// The sweeps reuse three grow-only allocations (the engine never keeps user
// buffers mapped, so reuse is safe, and the poison makes stale data visible).
struct Slot {
  void* p = nullptr;
  size_t capacity = 0;
};
Slot g_arena[3];
uint8_t* arena(int slot, size_t bytes) {
  Slot& s = g_arena[slot];
  if (bytes > s.capacity) {
    CUDA_OK(cudaStreamSynchronize(g_stream));
    if (s.p) CUDA_OK(cudaFree(s.p));
    s.p = nullptr;
    s.capacity = 0;
    if (CUDA_OK(cudaMalloc(&s.p, bytes))) s.capacity = bytes;
  }
  return static_cast<uint8_t*>(s.p);
}
void free_arena() {
  for (Slot& s : g_arena) {
    if (s.p) cudaFree(s.p);
    s = Slot{};
  }
}

// Allocations that live as long as the object (cudaMalloc or tdmMemAlloc).
class DeviceAllocs {
 public:
  explicit DeviceAllocs(bool tdm = false) : tdm_(tdm) {}
  DeviceAllocs(const DeviceAllocs&) = delete;
  DeviceAllocs& operator=(const DeviceAllocs&) = delete;
  ~DeviceAllocs() {
    cudaDeviceSynchronize();
    for (void* p : ptrs_) {
      if (tdm_)
        TDM_OK(tdmMemFree(p));
      else
        CUDA_OK(cudaFree(p));
    }
  }
  uint8_t* operator()(int, size_t bytes) {
    void* p = nullptr;
    const bool ok = tdm_ ? TDM_OK(tdmMemAlloc(&p, bytes)) : CUDA_OK(cudaMalloc(&p, bytes));
    if (!ok) return nullptr;
    ptrs_.push_back(p);
    return static_cast<uint8_t*>(p);
  }
  Alloc alloc() {
    return [this](int slot, size_t bytes) { return (*this)(slot, bytes); };
  }

 private:
  bool tdm_;
  std::vector<void*> ptrs_;
};

Bufs place(const Case& c, const Alloc& alloc) {
  const size_t es = type_size(c.type);
  const Layout l = layout(c);
  auto region = [&](int slot, size_t elems) {
    Region r;
    r.elems = elems;
    r.payload = kGuard + c.shift * es;
    r.bytes = r.payload + elems * es + kGuard;
    r.base = alloc(slot, r.bytes);
    if (r.base == nullptr) FAIL_CASE("no device memory for " + describe(c));
    return r;
  };
  Bufs b;
  if (in_place(c)) {
    b.a = region(0, l.buf);
    b.send = b.a.base + b.a.payload + l.send_at * es;
    b.recv = b.a.base + b.a.payload + l.recv_at * es;
  } else {
    b.a = region(0, l.send);
    b.b = region(1, l.recv);
    b.send = b.a.base + b.a.payload;
    b.recv = b.b.base + b.b.payload;
  }
  if (c.op == kPremulDevice) b.scalar = alloc(2, 16);
  return b;
}

// Poisons the buffers and writes this rank's input (and device scalar), in
// stream order on g_stream.
void upload(const Case& c, const Bufs& b) {
  if (!b.a.base) return;
  const size_t es = type_size(c.type);
  const Layout l = layout(c);
  std::vector<uint8_t> image(b.a.bytes, kPoison);
  const size_t at = b.a.payload + (in_place(c) ? l.send_at * es : 0);
  for (size_t j = 0; j < l.send; ++j) store(&image[at + j * es], input(c, c.ctx->rank, j).bits, es);
  // From pageable memory: the call returns once the image is staged.
  CUDA_OK(cudaMemcpyAsync(b.a.base, image.data(), image.size(), cudaMemcpyHostToDevice, g_stream));
  if (b.b.base) CUDA_OK(cudaMemsetAsync(b.b.base, kPoison, b.b.bytes, g_stream));
  if (b.scalar) {
    const uint64_t s = scalar_bits(c, c.ctx->rank);
    CUDA_OK(cudaMemcpyAsync(b.scalar, &s, es, cudaMemcpyHostToDevice, g_stream));
  }
}

tdmResult_t issue_p2p(const Case& c, char* s, char* r) {
  const Ctx& x = *c.ctx;
  const int next = (x.rank + 1) % x.n, prev = (x.rank + x.n - 1) % x.n;
  const size_t k = c.count, es = type_size(c.type);
  const tdmDataType_t t = c.type;
  tdmResult_t first = tdmSuccess;
  auto keep = [&](tdmResult_t got) {
    if (first == tdmSuccess) first = got;
  };
  keep(tdmGroupStart());
  switch (c.coll) {
    case Coll::kRing: {
      // Two messages each way: the receives must match the sends in call order.
      const size_t k2 = ring_second(k);
      keep(tdmSend(s, k, t, next, x.comm, c.stream));
      keep(tdmRecv(r, k, t, prev, x.comm, c.stream));
      keep(tdmSend(s + k * es, k2, t, next, x.comm, c.stream));
      keep(tdmRecv(r + k * es, k2, t, prev, x.comm, c.stream));
      break;
    }
    case Coll::kAllPairs:
      for (int p = 0; p < x.n; ++p) {
        keep(tdmRecv(r + p * k * es, k, t, p, x.comm, c.stream));
        keep(tdmSend(s + p * k * es, k, t, p, x.comm, c.stream));
      }
      break;
    default:  // self
      keep(tdmSend(s, k, t, x.rank, x.comm, c.stream));
      keep(tdmRecv(r, k, t, x.rank, x.comm, c.stream));
  }
  const tdmResult_t end = tdmGroupEnd();
  return first != tdmSuccess ? first : end;
}

// Makes the case's call (creating and destroying its premulsum op around it).
tdmResult_t issue(const Case& c, const Bufs& b) {
  const Ctx& x = *c.ctx;
  const tdmDataType_t t = c.type;
  const size_t k = c.count;
  tdmRedOp_t op = tdmSum;
  bool custom = false;
  if (reduces(c.coll)) {
    if (premul(c.op)) {
      uint64_t host = scalar_bits(c, x.rank);
      const bool device = c.op == kPremulDevice;
      custom = TDM_OK(tdmRedOpCreatePreMulSum(&op, device ? b.scalar : &host, t,
                                              device ? tdmScalarDevice : tdmScalarHostImmediate,
                                              x.comm));
      if (!custom) op = tdmSum;  // the call is still made: every rank must make it
      host = ~host;  // host-immediate: read at creation, so later changes must not matter
    } else {
      op = static_cast<tdmRedOp_t>(c.op);
    }
  }
  char* s = static_cast<char*>(b.send);
  char* r = static_cast<char*>(b.recv);
  if (c.null_unused && x.rank != c.root) {
    if (c.coll == Coll::kBroadcast || c.coll == Coll::kScatter) s = nullptr;
    if (c.coll == Coll::kReduce || c.coll == Coll::kGather) r = nullptr;
  }
  tdmResult_t result = tdmSuccess;
  switch (c.coll) {
    case Coll::kAllReduce:
      result = tdmAllReduce(s, r, k, t, op, x.comm, c.stream);
      break;
    case Coll::kReduce:
      result = tdmReduce(s, r, k, t, op, c.root, x.comm, c.stream);
      break;
    case Coll::kBroadcast:
      result = c.place == Place::kBcast ? tdmBcast(r, k, t, c.root, x.comm, c.stream)
                                        : tdmBroadcast(s, r, k, t, c.root, x.comm, c.stream);
      break;
    case Coll::kAllGather:
      result = tdmAllGather(s, r, k, t, x.comm, c.stream);
      break;
    case Coll::kReduceScatter:
      result = tdmReduceScatter(s, r, k, t, op, x.comm, c.stream);
      break;
    case Coll::kAlltoAll:
      result = tdmAlltoAll(s, r, k, t, x.comm, c.stream);
      break;
    case Coll::kGather:
      result = tdmGather(s, r, k, t, c.root, x.comm, c.stream);
      break;
    case Coll::kScatter:
      result = tdmScatter(s, r, k, t, c.root, x.comm, c.stream);
      break;
    default:
      result = issue_p2p(c, s, r);
  }
  // NCCL allows destroying the op as soon as the call returned.
  if (custom) TDM_OK(tdmRedOpDestroy(op, x.comm));
  return result;
}

bool issue_ok(const Case& c, const Bufs& b) {
  SCOPED_TRACE(describe(c));
  return TDM_OK(issue(c, b));
}

constexpr int kShown = 6;  // mismatches listed per buffer

// Checks every byte of a region read back: guards poisoned, payload as wanted.
bool check_region(const Case& c, const char* name, const std::vector<uint8_t>& got,
                  const Region& reg, const std::function<Want(size_t)>& want) {
  const tdmDataType_t t = c.type;
  const size_t es = type_size(t), end = reg.payload + reg.elems * es;
  std::ostringstream bad;
  size_t errors = 0;
  auto note = [&](const std::string& line) {
    if (errors++ < kShown) bad << "\n    " << line;
  };
  for (size_t i = 0; i < reg.payload; ++i)
    if (got[i] != kPoison)
      note("guard byte " + std::to_string(reg.payload - i) + " before the payload was written (" +
           std::to_string(got[i]) + ")");
  for (size_t i = end; i < got.size(); ++i)
    if (got[i] != kPoison)
      note("guard byte " + std::to_string(i - end) + " past the payload was written (" +
           std::to_string(got[i]) + ")");
  for (size_t e = 0; e < reg.elems; ++e) {
    const uint64_t g = load(&got[reg.payload + e * es], es);
    const Want w = want(e);
    if (!matches(t, g, w))
      note("[" + std::to_string(e) + "] got " + show(t, g) + ", want " + show_want(t, w));
  }
  if (errors)
    FAIL_CASE(std::string(name) + ": " + std::to_string(errors) + " wrong bytes or elements of " +
              std::to_string(reg.elems) + ", first:" + bad.str());
  return errors == 0;
}

std::vector<uint8_t> read_back(const Region& r) {
  std::vector<uint8_t> host(r.bytes);
  if (r.base)
    CUDA_OK(cudaMemcpyAsync(host.data(), r.base, r.bytes, cudaMemcpyDeviceToHost, g_stream));
  return host;
}

// Reads the buffers back and checks them against the reference.
bool verify(const Case& c, const Bufs& b) {
  SCOPED_TRACE(describe(c));
  if (!b.a.base || (!in_place(c) && !b.b.base)) return false;
  const std::vector<uint8_t> a = read_back(b.a), r = read_back(b.b);
  if (!CUDA_OK(cudaStreamSynchronize(g_stream))) return false;
  const Layout l = layout(c);
  const int me = c.ctx->rank;
  const Want poison = Want::exact(poison_bits(c.type));
  if (in_place(c)) {
    return check_region(c, "in-place buffer", a, b.a, [&](size_t e) {
      if (e >= l.recv_at && e < l.recv_at + l.recv)
        if (std::optional<Want> w = recv_want(c, e - l.recv_at)) return *w;
      if (e >= l.send_at && e < l.send_at + l.send)
        return Want::exact(input(c, me, e - l.send_at).bits);
      return poison;
    });
  }
  bool ok = check_region(c, "sendbuff", a, b.a,
                         [&](size_t e) { return Want::exact(input(c, me, e).bits); });
  ok &= check_region(c, "recvbuff", r, b.b,
                     [&](size_t e) { return recv_want(c, e).value_or(poison); });
  return ok;
}

// One case on the arena buffers: poison, input, call, check.
void run_case(Case c, const Alloc& alloc = arena) {
  c.salt = ++g_salt;
  const Bufs b = place(c, alloc);
  upload(c, b);
  issue_ok(c, b);
  verify(c, b);
}

// ---- fixture ----

class Collectives : public ::testing::Test {
 protected:
  void SetUp() override {
    g_failures = 0;
    // A seed of this rank from the clock and the rank; every rank learns all.
    const uint64_t now =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    const uint64_t mine =
        fmix64(now ^ std::random_device{}() ^ (static_cast<uint64_t>(g_rank) << 56));
    g_world.comm = g_comm;
    g_world.n = g_nranks;
    g_world.rank = g_rank;
    g_world.seeds.assign(g_nranks, 0);
    TDM_OK(tdmAllGather(&mine, g_world.seeds.data(), 1, tdmUint64, g_comm, nullptr));
  }
  void TearDown() override {
    if (g_failures > kMaxReported)
      ADD_FAILURE() << g_failures - kMaxReported << " more failures not shown";
    const bool mine = !HasFailure();
    if (!all_agree(mine) && mine) ADD_FAILURE() << "failed on another rank (see its output)";
  }
};

// ---- every collective x type x op x count x placement x root ----

constexpr size_t kCounts[] = {1, 1023, 77777};  // one element, odd and small (LL), medium

std::vector<Place> places_of(Coll c) {
  if (p2p(c)) return {Place::kOut};
  if (c == Coll::kBroadcast) return {Place::kOut, Place::kIn, Place::kBcast};
  return {Place::kOut, Place::kIn};
}
std::vector<int> ops_of(Coll c) {
  if (!reduces(c)) return {kNoOp};
  return std::vector<int>(std::begin(kAllOps), std::end(kAllOps));
}
std::vector<int> roots_of(Coll c, int n) {
  std::vector<int> roots{0};
  if (rooted(c))
    for (int r = 1; r < n; ++r) roots.push_back(r);
  return roots;
}

class Sweep : public Collectives,
              public ::testing::WithParamInterface<std::tuple<Coll, tdmDataType_t>> {};

TEST_P(Sweep, OpsCountsPlacementsRoots) {
  const auto [coll, t] = GetParam();
  for (int op : ops_of(coll))
    for (size_t count : kCounts)
      for (Place where : places_of(coll))
        for (int root : roots_of(coll, g_nranks))
          // Unaligned buffers (the engine's byte and 8-byte paths) for sum and moves.
          for (size_t shift : {0, 1}) {
            if (shift && (where != Place::kOut || (op != kNoOp && op != kSum))) continue;
            Case c = make(coll, t, op, count, where, root);
            c.shift = shift;
            run_case(c);
          }
}

INSTANTIATE_TEST_SUITE_P(Device, Sweep,
                         ::testing::Combine(::testing::ValuesIn(kAllColls),
                                            ::testing::ValuesIn(kAllTypes)),
                         [](const ::testing::TestParamInfo<Sweep::ParamType>& p) {
                           return std::string(coll_name(std::get<0>(p.param))) + "_" +
                                  type_name(std::get<1>(p.param));
                         });

// Millions of elements: many slots per channel, every channel busy.
TEST_F(Collectives, LargeCountsPipelined) {
  const size_t big = size_t{3} << 20;
  for (Coll coll : kAllColls) {
    if (coll == Coll::kSelf) continue;
    for (int op : reduces(coll) ? std::vector<int>{kSum, kPremulDevice} : std::vector<int>{kNoOp})
      for (Place where : p2p(coll) ? std::vector<Place>{Place::kOut}
                                   : std::vector<Place>{Place::kOut, Place::kIn})
        run_case(make(coll, tdmFloat32, op, big, where, g_nranks - 1));
  }
  // A narrow type on the vector path of the bandwidth kernels.
  run_case(make(Coll::kAllReduce, tdmBfloat16, kSum, big));
  run_case(make(Coll::kReduceScatter, tdmBfloat16, kAvg, big / 4, Place::kIn));
}

// Count 0 is a no-op (NCCL returns success): nothing may be written.
TEST_F(Collectives, ZeroCountWritesNothing) {
  for (Coll coll : kAllColls)
    for (tdmDataType_t t : kAllTypes)
      for (Place where : places_of(coll)) run_case(make(coll, t, kSum, 0, where, g_nranks - 1));
}

// NCCL ignores the buffers a rank does not use: sendbuff of broadcast and
// scatter, recvbuff of reduce and gather, except on the root.
TEST_F(Collectives, UnusedBuffersMayBeNull) {
  for (Coll coll : {Coll::kBroadcast, Coll::kScatter, Coll::kReduce, Coll::kGather})
    for (tdmDataType_t t : {tdmInt8, tdmFloat32})
      for (size_t count : {size_t{1023}, size_t{77777}})
        for (int root : roots_of(coll, g_nranks)) {
          Case c = make(coll, t, kSum, count, Place::kOut, root);
          c.null_unused = true;
          run_case(c);
        }
}

// NCCL accepts the legacy default stream (NULL) with device buffers.
TEST_F(Collectives, LegacyStream) {
  for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 1023),
                 make(Coll::kAllReduce, tdmInt32, kMax, 77777),
                 make(Coll::kAllGather, tdmUint8, kNoOp, 1023),
                 make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, g_nranks - 1),
                 make(Coll::kRing, tdmFloat16, kNoOp, 1023)}) {
    c.salt = ++g_salt;
    c.stream = nullptr;
    const Bufs b = place(c, arena);
    upload(c, b);
    CUDA_OK(cudaStreamSynchronize(g_stream));  // g_stream does not wait for the legacy stream
    issue_ok(c, b);
    CUDA_OK(cudaDeviceSynchronize());
    verify(c, b);
  }
}

// ---- sequences: back to back, grouped, graphs ----

// Cases over one stream with no synchronization between them: the LL
// buffers' alternation and the channels' counters carry from call to call.
std::vector<Case> mixed_cases() {
  const int last = g_nranks - 1;
  return {
      make(Coll::kAllReduce, tdmFloat32, kSum, 1023),
      make(Coll::kAllReduce, tdmFloat32, kSum, 77777),
      make(Coll::kAllGather, tdmInt8, kNoOp, 1023, Place::kIn),
      make(Coll::kReduceScatter, tdmBfloat16, kPremulDevice, 1023),
      make(Coll::kAllReduce, tdmInt64, kProd, 1),
      make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, last),
      make(Coll::kAlltoAll, tdmUint32, kNoOp, 1023),
      make(Coll::kRing, tdmFloat16, kNoOp, 77777),
      make(Coll::kReduce, tdmFloat8e4m3, kMin, 1023, Place::kOut, last),
      make(Coll::kAllReduce, tdmUint8, kAvg, 77777, Place::kIn),
      make(Coll::kAllPairs, tdmInt32, kNoOp, 1023),
      make(Coll::kGather, tdmFloat8e5m2, kNoOp, 1023, Place::kIn, 0),
      make(Coll::kScatter, tdmUint64, kNoOp, 77777, Place::kOut, last),
      make(Coll::kReduceScatter, tdmFloat32, kMax, 77777, Place::kIn),
      make(Coll::kAlltoAll, tdmFloat16, kNoOp, 77777, Place::kIn),
      make(Coll::kAllReduce, tdmFloat32, kPremulHost, 1023),
  };
}

TEST_F(Collectives, BackToBackWithoutSynchronization) {
  std::vector<Case> cases = mixed_cases();
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (const Case& c : cases) bufs.push_back(place(c, mem.alloc()));
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < cases.size(); ++i) {
      cases[i].salt = ++g_salt;
      upload(cases[i], bufs[i]);
    }
    for (size_t i = 0; i < cases.size(); ++i) issue_ok(cases[i], bufs[i]);
    for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
  }
}

// Collectives and send/recv patterns aggregated in one group.
TEST_F(Collectives, GroupedCollectives) {
  std::vector<Case> cases = mixed_cases();
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (Case& c : cases) {
    c.salt = ++g_salt;
    bufs.push_back(place(c, mem.alloc()));
    upload(c, bufs.back());
  }
  TDM_OK(tdmGroupStart());
  for (size_t i = 0; i < cases.size(); ++i) issue_ok(cases[i], bufs[i]);
  TDM_OK(tdmGroupEnd());
  for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
}

// The calls captured into a CUDA graph, launched several times with new
// inputs (and new device premulsum scalars) written between launches.
class Graph : public Collectives, public ::testing::WithParamInterface<tdmDataType_t> {};

TEST_P(Graph, ReplaysWithNewInputs) {
  const tdmDataType_t t = GetParam();
  const int last = g_nranks - 1;
  std::vector<Case> cases = {
      make(Coll::kAllReduce, t, kSum, 1023),
      make(Coll::kAllReduce, t, kPremulDevice, 77777),
      make(Coll::kAllReduce, t, kPremulHost, 1023, Place::kIn),
      make(Coll::kReduceScatter, t, kMax, 1023, Place::kIn),
      make(Coll::kReduceScatter, t, kAvg, 77777),
      make(Coll::kAllGather, t, kNoOp, 77777),
      make(Coll::kAllGather, t, kNoOp, 1023, Place::kIn),
      make(Coll::kBroadcast, t, kNoOp, 1023, Place::kOut, 1 % g_nranks),
      make(Coll::kReduce, t, kMin, 77777, Place::kOut, last),
      make(Coll::kAlltoAll, t, kNoOp, 1023, Place::kIn),
      make(Coll::kGather, t, kNoOp, 1023, Place::kOut, 0),
      make(Coll::kScatter, t, kNoOp, 77777, Place::kOut, last),
      make(Coll::kRing, t, kNoOp, 1023),
      make(Coll::kAllPairs, t, kNoOp, 77777),
      make(Coll::kSelf, t, kNoOp, 1023),
  };
  DeviceAllocs mem;
  std::vector<Bufs> bufs;
  for (const Case& c : cases) bufs.push_back(place(c, mem.alloc()));
  CUDA_OK(cudaStreamSynchronize(g_stream));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool captured = CUDA_OK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeGlobal));
  if (captured) {
    for (size_t i = 0; i < cases.size(); ++i) captured &= issue_ok(cases[i], bufs[i]);
    captured &= CUDA_OK(cudaStreamEndCapture(g_stream, &graph));
  }
  captured = captured && CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  // Launch only where every rank has a graph (a lone launch would wait forever).
  if (all_agree(captured)) {
    for (uint64_t launch = 0; launch < 4; ++launch) {
      for (size_t i = 0; i < cases.size(); ++i) {
        cases[i].salt = ++g_salt;
        if (cases[i].op == kPremulDevice) cases[i].scalar_salt = launch;  // read at run time
        upload(cases[i], bufs[i]);
      }
      CUDA_OK(cudaGraphLaunch(exec, g_stream));
      for (size_t i = 0; i < cases.size(); ++i) verify(cases[i], bufs[i]);
    }
  }
  if (exec) CUDA_OK(cudaGraphExecDestroy(exec));
  if (graph) CUDA_OK(cudaGraphDestroy(graph));
}

INSTANTIATE_TEST_SUITE_P(Device, Graph,
                         ::testing::Values(tdmFloat32, tdmBfloat16, tdmInt32, tdmFloat8e4m3),
                         [](const ::testing::TestParamInfo<tdmDataType_t>& p) {
                           return std::string(type_name(p.param));
                         });

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
  EXPECT_EQ(landed, fmix64(g_world.seeds[(me + n - 1) % n] + 17))
      << "written by the previous rank";
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

// Communicators split by rank parity (one rank each at np 2): their own
// CUDA engines, side by side with the world's.
TEST_F(Collectives, SplitCommunicators) {
  const int color = g_rank % 2;
  tdmComm_t sub = nullptr;
  const bool made = all_agree(TDM_OK(tdmCommSplit(g_comm, color, g_rank, &sub, nullptr)));
  if (!made) {
    if (sub) tdmCommDestroy(sub);
    return;
  }
  Ctx ctx;
  ctx.comm = sub;
  TDM_OK(tdmCommCount(sub, &ctx.n));
  TDM_OK(tdmCommUserRank(sub, &ctx.rank));
  for (int r = color; r < g_nranks; r += 2) ctx.seeds.push_back(g_world.seeds[r]);
  EXPECT_EQ(ctx.n, static_cast<int>(ctx.seeds.size()));
  EXPECT_EQ(ctx.rank, g_rank / 2);
  if (all_agree(ctx.n == static_cast<int>(ctx.seeds.size()) && ctx.rank == g_rank / 2)) {
    for (Case c : {make(Coll::kAllReduce, tdmFloat32, kSum, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kAllReduce, tdmInt64, kProd, 77777, Place::kIn, 0, &ctx),
                   make(Coll::kReduceScatter, tdmBfloat16, kAvg, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kAllGather, tdmInt8, kNoOp, 1023, Place::kIn, 0, &ctx),
                   make(Coll::kBroadcast, tdmFloat64, kNoOp, 77777, Place::kOut, ctx.n - 1, &ctx),
                   make(Coll::kAlltoAll, tdmUint8, kNoOp, 1023, Place::kOut, 0, &ctx),
                   make(Coll::kRing, tdmFloat16, kNoOp, 1023, Place::kOut, 0, &ctx)}) {
      run_case(c);
      run_case(make(Coll::kAllReduce, tdmFloat32, kSum, 1023));  // the world in between
    }
  }
  CUDA_OK(cudaStreamSynchronize(g_stream));
  TDM_OK(tdmCommDestroy(sub));
}

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

void PrintTo(tdmDataType_t t, std::ostream* os) { *os << type_name(t); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();  // listing needs no GPU
  tdm::test::GpuWorld world;
  if (!tdm::test::init_gpu_world("collectives_gpu_test", &world)) return 1;
  g_comm = world.comm;
  g_rank = world.rank;
  g_nranks = world.size;
  const int device = world.device, devices = world.devices;
  int comm_device = -1;
  tdmCommCuDevice(g_comm, &comm_device);
  int rc = 1;
  const bool ready = comm_device == device &&
                     cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) == cudaSuccess;
  if (!ready)
    std::fprintf(stderr, "rank %d: communicator on device %d (want %d), or no stream\n", g_rank,
                 comm_device, device);
  // Every rank runs the tests only if every rank is ready (else none hangs).
  if (all_agree(ready)) {
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, device);
    std::printf("rank %d of %d on GPU %d of %d (%s)\n", g_rank, g_nranks, device, devices,
                prop.name);
    rc = RUN_ALL_TESTS();
  }
  cudaDeviceSynchronize();
  free_arena();
  if (g_stream) cudaStreamDestroy(g_stream);
  tdmCommDestroy(g_comm);
  return rc;
}
