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
//
// The harness, shared by the files of collectives_gpu_test (one binary):
// this header; collectives_case.cu (what a case is, its inputs and the
// reference); collectives_buffers.cu (buffers, the call, the check);
// collectives_gpu_test.cu (process-wide state, failure reporting, main).
// The tests: collectives_sweep_test.cu (every collective x type x op ...),
// collectives_sequence_test.cu (back to back, grouped), collectives_graph_test.cu,
// collectives_memory_test.cu (tdmMemAlloc, registration),
// collectives_window_test.cu, collectives_split_test.cu, collectives_misuse_test.cu.
#pragma once

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

namespace collectives_gpu_test {

// ---- process-wide state (set once in main) ----

extern tdmComm_t g_comm;
extern int g_rank;
extern int g_nranks;
extern cudaStream_t g_stream;

constexpr uint8_t kPoison = 0xA5;
constexpr size_t kGuard = 512;  // poisoned bytes on each side of every payload

// ---- failure reporting ----

// Every failure of a test is counted; the first few are reported in full (a
// broken kernel fails hundreds of cases alike and would bury the first one).
extern int g_failures;
constexpr int kMaxReported = 25;

void fail_at(const char* file, int line, const std::string& message);
#define FAIL_CASE(message) fail_at(__FILE__, __LINE__, (message))

const char* result_name(tdmResult_t r);
bool cuda_ok(cudaError_t e, const char* what, const char* file, int line);
bool tdm_is(tdmResult_t got, tdmResult_t want, const char* what, const char* file, int line);
#define CUDA_OK(call) cuda_ok((call), #call, __FILE__, __LINE__)
#define TDM_OK(call) tdm_is((call), tdmSuccess, #call, __FILE__, __LINE__)
#define EXPECT_RESULT(call, want) tdm_is((call), (want), #call, __FILE__, __LINE__)

// True only if every rank of `comm` says true (an allreduce on host memory).
bool all_agree(bool mine, tdmComm_t comm = g_comm);
void host_barrier();

// ---- data types (the harness's codecs, tests/common) ----

using tdm::test::decode;
using tdm::test::encode;
using tdm::test::is_float;
using tdm::test::is_signed_int;
using tdm::test::truncate;
using tdm::test::type_size;
using tdm::test::unit_roundoff;

const char* type_name(tdmDataType_t t);

constexpr tdmDataType_t kAllTypes[] = {tdmInt8,    tdmUint8,    tdmInt32,      tdmUint32,
                                       tdmInt64,   tdmUint64,   tdmFloat16,    tdmFloat32,
                                       tdmFloat64, tdmBfloat16, tdmFloat8e4m3, tdmFloat8e5m2};

uint64_t poison_bits(tdmDataType_t t);

uint64_t load(const uint8_t* p, size_t size);
void store(uint8_t* p, uint64_t v, size_t size);

std::string show(tdmDataType_t t, uint64_t bits);

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

const char* coll_name(Coll c);
void PrintTo(Coll c, std::ostream* os);

bool reduces(Coll c);
bool rooted(Coll c);
bool p2p(Coll c);

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
const char* op_name(int op);
bool premul(int op);

enum class Place { kOut, kIn, kBcast /* tdmBcast: in place */ };
const char* place_name(Place p);

// A communicator with what its ranks need to regenerate each other's data.
struct Ctx {
  tdmComm_t comm = nullptr;
  int n = 1;
  int rank = 0;
  std::vector<uint64_t> seeds;  // per rank of comm
};
extern Ctx g_world;  // seeds drawn afresh by every test

extern uint64_t g_salt;  // cases numbered alike on every rank: fresh data for each

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
          const Ctx* ctx = &g_world);

bool in_place(const Case& c);

std::string describe(const Case& c);

// ---- inputs and reference ----

using tdm::test::fmix64;

struct Elem {
  uint64_t bits;
  double value;  // float reductions only
};

// Element j of the send buffer of rank r (of the case's communicator).
Elem input(const Case& c, int r, uint64_t j);

// Premulsum scalar of rank r: exact multipliers, varying by rank and scalar_salt.
double float_scalar(const Case& c, int r);
uint64_t int_scalar(const Case& c, int r);
uint64_t scalar_bits(const Case& c, int r);

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

bool matches(tdmDataType_t t, uint64_t got, const Want& w);

std::string show_want(tdmDataType_t t, const Want& w);

// Reduction over the ranks of element j of every rank's send buffer.
Want reduce_want(const Case& c, uint64_t j);

// Element counts of the buffers, NCCL's layouts.
struct Layout {
  size_t send = 0, recv = 0;                 // out of place: elements of each buffer
  size_t buf = 0, send_at = 0, recv_at = 0;  // in place: one buffer, where each part starts
};
size_t ring_second(size_t k);

Layout layout(const Case& c);

// What element e of the receive buffer must hold; nullopt where the call must
// not write (buffers that only matter on the root).
std::optional<Want> recv_want(const Case& c, size_t e);

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

// The sweeps' grow-only device allocations (see collectives_buffers.cu).
uint8_t* arena(int slot, size_t bytes);
void free_arena();

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

// Allocations kept until main has destroyed the communicator: buffers that
// peers map for the direct all-to-all must outlive it.
DeviceAllocs& kept_allocs(bool tdm);
void free_kept_allocs();

Bufs place(const Case& c, const Alloc& alloc);

// Poisons the buffers and writes this rank's input (and device scalar), in
// stream order on g_stream.
void upload(const Case& c, const Bufs& b);

tdmResult_t issue_p2p(const Case& c, char* s, char* r);

// Makes the case's call (creating and destroying its premulsum op around it).
tdmResult_t issue(const Case& c, const Bufs& b);

bool issue_ok(const Case& c, const Bufs& b);

// Checks every byte of a region read back: guards poisoned, payload as wanted.
bool check_region(const Case& c, const char* name, const std::vector<uint8_t>& got,
                  const Region& reg, const std::function<Want(size_t)>& want);

std::vector<uint8_t> read_back(const Region& r);

// Reads the buffers back and checks them against the reference.
bool verify(const Case& c, const Bufs& b);

// One case on the arena buffers: poison, input, call, check.
void run_case(Case c, const Alloc& alloc = arena);

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

// Cases over one stream with no synchronization between them (defined in
// collectives_sequence_test.cu; the memory tests use them too).
std::vector<Case> mixed_cases();

}  // namespace collectives_gpu_test
