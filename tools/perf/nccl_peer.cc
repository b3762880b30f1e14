// NCCL loaded at run time as the peer of the device-memory comparison; see
// nccl_peer.h and README.md ("NCCL comparison").
#include "nccl_peer.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "device.h"
#include "nccl_types.h"

namespace tandem::perf {
namespace {

using namespace nccl;  // NOLINT: NCCL's own names read best here

// Calls pass tdm values straight through; they must be NCCL's.
constexpr bool same(int a, int b) { return a == b; }
static_assert(sizeof(ncclUniqueId) == sizeof(tdmUniqueId));
static_assert(same(ncclInt8, tdmInt8) && same(ncclUint8, tdmUint8) && same(ncclInt32, tdmInt32) &&
              same(ncclUint32, tdmUint32) && same(ncclInt64, tdmInt64) &&
              same(ncclUint64, tdmUint64) && same(ncclFloat16, tdmFloat16) &&
              same(ncclFloat32, tdmFloat32) && same(ncclFloat64, tdmFloat64) &&
              same(ncclBfloat16, tdmBfloat16) && same(ncclFloat8e4m3, tdmFloat8e4m3) &&
              same(ncclFloat8e5m2, tdmFloat8e5m2));
static_assert(same(ncclSum, tdmSum) && same(ncclProd, tdmProd) && same(ncclMax, tdmMax) &&
              same(ncclMin, tdmMin) && same(ncclAvg, tdmAvg));
static_assert(same(ncclScalarHostImmediate, tdmScalarHostImmediate));

constexpr int kFp8Version = 22400;  // first NCCL with the fp8 types

size_t typeSize(tdmDataType_t t) {
  switch (t) {
    case tdmInt8:
    case tdmUint8:
    case tdmFloat8e4m3:
    case tdmFloat8e5m2:
      return 1;
    case tdmHalf:
    case tdmBfloat16:
      return 2;
    case tdmInt32:
    case tdmUint32:
    case tdmFloat:
      return 4;
    default:
      return 8;
  }
}

// The dlopen handle. RTLD_NODELETE: dlclose must not unmap NCCL, whose
// threads and atexit handlers may outlive the communicator.
class Library {
 public:
  Library() = default;
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  ~Library() {
    if (h_) dlclose(h_);
  }
  // False, with dlerror() in `error`, when it cannot be loaded.
  bool open(const std::string& path, std::string* error) {
    h_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h_) *error = dlerror();
    return h_ != nullptr;
  }
  void* symbol(const char* name) const { return dlsym(h_, name); }

 private:
  void* h_ = nullptr;
};

struct Api {
  GetVersionFn getVersion = nullptr;
  GetUniqueIdFn getUniqueId = nullptr;
  CommInitRankFn commInitRank = nullptr;
  CommDestroyFn commDestroy = nullptr;
  GetErrorStringFn getErrorString = nullptr;
  AllReduceFn allReduce = nullptr;
  BroadcastFn broadcast = nullptr;
  ReduceFn reduce = nullptr;
  AllGatherFn allGather = nullptr;
  ReduceScatterFn reduceScatter = nullptr;
  SendFn send = nullptr;
  RecvFn recv = nullptr;
  GroupFn groupStart = nullptr;
  GroupFn groupEnd = nullptr;
  // Optional: grouped send/recv stands in for the collectives, premulsum
  // rows are skipped, the error detail is left out.
  AlltoAllFn alltoAll = nullptr;
  RootedCopyFn gather = nullptr;
  RootedCopyFn scatter = nullptr;
  RedOpCreatePreMulSumFn redOpCreatePreMulSum = nullptr;
  RedOpDestroyFn redOpDestroy = nullptr;
  GetLastErrorFn getLastError = nullptr;

  // False, naming the first missing required symbol in `error`.
  bool resolve(const Library& lib, std::string* error) {
    bool ok = true;
    auto need = [&](auto* fn, const char* name) {
      *fn = reinterpret_cast<std::remove_reference_t<decltype(*fn)>>(lib.symbol(name));
      if (!*fn && ok) {
        *error = std::string("symbol ") + name + " not found";
        ok = false;
      }
    };
    auto want = [&](auto* fn, const char* name) {
      *fn = reinterpret_cast<std::remove_reference_t<decltype(*fn)>>(lib.symbol(name));
    };
    need(&getVersion, "ncclGetVersion");
    need(&getUniqueId, "ncclGetUniqueId");
    need(&commInitRank, "ncclCommInitRank");
    need(&commDestroy, "ncclCommDestroy");
    need(&getErrorString, "ncclGetErrorString");
    need(&allReduce, "ncclAllReduce");
    need(&broadcast, "ncclBroadcast");
    need(&reduce, "ncclReduce");
    need(&allGather, "ncclAllGather");
    need(&reduceScatter, "ncclReduceScatter");
    need(&send, "ncclSend");
    need(&recv, "ncclRecv");
    need(&groupStart, "ncclGroupStart");
    need(&groupEnd, "ncclGroupEnd");
    want(&alltoAll, "ncclAlltoAll");
    want(&gather, "ncclGather");
    want(&scatter, "ncclScatter");
    want(&redOpCreatePreMulSum, "ncclRedOpCreatePreMulSum");
    want(&redOpDestroy, "ncclRedOpDestroy");
    want(&getLastError, "ncclGetLastError");
    if (!redOpCreatePreMulSum || !redOpDestroy) redOpCreatePreMulSum = nullptr;
    return ok;
  }
};

tdmResult_t toTdm(ncclResult_t r) { return static_cast<tdmResult_t>(r); }
ncclDataType_t toNccl(tdmDataType_t t) { return static_cast<ncclDataType_t>(t); }
ncclRedOp_t toNccl(tdmRedOp_t op) { return static_cast<ncclRedOp_t>(op); }

class Nccl final : public PeerLib {
 public:
  Nccl() = default;
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;
  ~Nccl() override {
    if (comm_) api_.commDestroy(comm_);
  }

  void open(tdmComm_t tandem);

  const char* name() const override { return "NCCL"; }
  int version() const override { return version_; }
  const std::string& path() const override { return path_; }

  const char* unsupported(tdmDataType_t type, bool preMulSum) const override {
    const bool fp8 = type == tdmFloat8e4m3 || type == tdmFloat8e5m2;
    if (fp8 && version_ < kFp8Version) return "NCCL before 2.24 has no fp8 types";
    if (fp8 && computeMajor_ < 9) return "NCCL runs fp8 on sm_90 and later only";
    if (preMulSum && !api_.redOpCreatePreMulSum) return "ncclRedOpCreatePreMulSum not found";
    return nullptr;
  }

  std::string describe(tdmResult_t r) const override {
    const char* last = api_.getLastError ? api_.getLastError(comm_) : nullptr;
    return std::string("'") + api_.getErrorString(static_cast<ncclResult_t>(r)) + "' (" +
           (last && *last ? last : "no detail") + ")";
  }

  tdmResult_t allReduce(const void* send, void* recv, size_t count, tdmDataType_t type,
                        tdmRedOp_t op, cudaStream_t stream) const override {
    return toTdm(api_.allReduce(send, recv, count, toNccl(type), toNccl(op), comm_, stream));
  }
  tdmResult_t broadcast(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                        cudaStream_t stream) const override {
    return toTdm(api_.broadcast(send, recv, count, toNccl(type), root, comm_, stream));
  }
  tdmResult_t reduce(const void* send, void* recv, size_t count, tdmDataType_t type, tdmRedOp_t op,
                     int root, cudaStream_t stream) const override {
    return toTdm(api_.reduce(send, recv, count, toNccl(type), toNccl(op), root, comm_, stream));
  }
  tdmResult_t allGather(const void* send, void* recv, size_t count, tdmDataType_t type,
                        cudaStream_t stream) const override {
    return toTdm(api_.allGather(send, recv, count, toNccl(type), comm_, stream));
  }
  tdmResult_t reduceScatter(const void* send, void* recv, size_t count, tdmDataType_t type,
                            tdmRedOp_t op, cudaStream_t stream) const override {
    return toTdm(api_.reduceScatter(send, recv, count, toNccl(type), toNccl(op), comm_, stream));
  }
  tdmResult_t alltoAll(const void* send, void* recv, size_t count, tdmDataType_t type,
                       cudaStream_t stream) const override {
    if (api_.alltoAll) return toTdm(api_.alltoAll(send, recv, count, toNccl(type), comm_, stream));
    const size_t block = count * typeSize(type);
    return grouped([&]() -> tdmResult_t {
      for (int p = 0; p < nranks_; ++p) {
        const size_t off = static_cast<size_t>(p) * block;
        tdmResult_t r = this->send(static_cast<const char*>(send) + off, count, type, p, stream);
        if (r == tdmSuccess) r = this->recv(static_cast<char*>(recv) + off, count, type, p, stream);
        if (r != tdmSuccess) return r;
      }
      return tdmSuccess;
    });
  }
  tdmResult_t gather(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                     cudaStream_t stream) const override {
    if (api_.gather)
      return toTdm(api_.gather(send, recv, count, toNccl(type), root, comm_, stream));
    const size_t block = count * typeSize(type);
    return grouped([&]() -> tdmResult_t {
      tdmResult_t r = this->send(send, count, type, root, stream);
      for (int p = 0; p < nranks_ && r == tdmSuccess && rank_ == root; ++p) {
        r = this->recv(static_cast<char*>(recv) + static_cast<size_t>(p) * block, count, type, p,
                       stream);
      }
      return r;
    });
  }
  tdmResult_t scatter(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                      cudaStream_t stream) const override {
    if (api_.scatter) {
      return toTdm(api_.scatter(send, recv, count, toNccl(type), root, comm_, stream));
    }
    const size_t block = count * typeSize(type);
    return grouped([&]() -> tdmResult_t {
      tdmResult_t r = tdmSuccess;
      for (int p = 0; p < nranks_ && r == tdmSuccess && rank_ == root; ++p) {
        r = this->send(static_cast<const char*>(send) + static_cast<size_t>(p) * block, count, type,
                       p, stream);
      }
      return r == tdmSuccess ? this->recv(recv, count, type, root, stream) : r;
    });
  }
  tdmResult_t send(const void* buf, size_t count, tdmDataType_t type, int peer,
                   cudaStream_t stream) const override {
    return toTdm(api_.send(buf, count, toNccl(type), peer, comm_, stream));
  }
  tdmResult_t recv(void* buf, size_t count, tdmDataType_t type, int peer,
                   cudaStream_t stream) const override {
    return toTdm(api_.recv(buf, count, toNccl(type), peer, comm_, stream));
  }
  tdmResult_t groupStart() const override { return toTdm(api_.groupStart()); }
  tdmResult_t groupEnd() const override { return toTdm(api_.groupEnd()); }
  tdmResult_t redOpCreatePreMulSum(tdmRedOp_t* op, void* scalar,
                                   tdmDataType_t type) const override {
    ncclRedOp_t out{};
    const ncclResult_t r =
        api_.redOpCreatePreMulSum(&out, scalar, toNccl(type), ncclScalarHostImmediate, comm_);
    *op = static_cast<tdmRedOp_t>(out);
    return toTdm(r);
  }
  tdmResult_t redOpDestroy(tdmRedOp_t op) const override {
    return toTdm(api_.redOpDestroy(toNccl(op), comm_));
  }

 private:
  // The send/recv that `body` issues, in one group (ended even on failure).
  template <class Body>
  tdmResult_t grouped(Body body) const {
    const tdmResult_t start = groupStart();
    if (start != tdmSuccess) return start;
    const tdmResult_t r = body();
    const tdmResult_t end = groupEnd();
    return r != tdmSuccess ? r : end;
  }

  Library lib_;
  Api api_;
  ncclComm_t comm_ = nullptr;
  std::string path_;
  int version_ = 0;
  int computeMajor_ = 0;
  int rank_ = 0;
  int nranks_ = 1;
};

void checkTandem(tdmResult_t r, tdmComm_t comm, const char* what) {
  if (r == tdmSuccess) return;
  const char* last = tdmGetLastError(comm);
  throw std::runtime_error(std::string("Tandem failure in ") + what + ": '" + tdmGetErrorString(r) +
                           "' (" + (last && *last ? last : "no detail") + ")");
}

// True on every rank when `ok` is true on every rank.
bool allAgree(bool ok, tdmComm_t comm) {
  int32_t bad = ok ? 0 : 1, anyBad = 0;
  checkTandem(tdmAllReduce(&bad, &anyBad, 1, tdmInt32, tdmMax, comm, nullptr), comm,
              "tdmAllReduce (NCCL load vote)");
  return anyBad == 0;
}

void Nccl::open(tdmComm_t tandem) {
  checkTandem(tdmCommUserRank(tandem, &rank_), tandem, "tdmCommUserRank");
  checkTandem(tdmCommCount(tandem, &nranks_), tandem, "tdmCommCount");

  // NVLink multicast (NVLS) can put shared GPUs out of service: never used.
  // NCCL reads its environment when loaded and initialized, so set it first.
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  const char* env = std::getenv("TANDEM_NCCL_LIBRARY");
  path_ = env && *env ? env : "libnccl.so.2";
  std::string error;
  bool ok = lib_.open(path_, &error) && api_.resolve(lib_, &error);
  if (ok) ok = api_.getVersion(&version_) == ncclSuccess;
  if (!allAgree(ok, tandem)) {
    throw std::runtime_error(
        ok ? "NCCL could not be loaded on another rank"
           : "cannot use NCCL from '" + path_ + "': " + error +
                 " (install NCCL or set TANDEM_NCCL_LIBRARY to libnccl.so.2's path; "
                 "-M 0 runs without the comparison)");
  }
  int device = 0;
  CUDACHECK(cudaGetDevice(&device));
  CUDACHECK(cudaDeviceGetAttribute(&computeMajor_, cudaDevAttrComputeCapabilityMajor, device));

  // Rank 0's id, with whether it could make one, on host memory over Tandem.
  struct {
    int32_t ok;
    ncclUniqueId id;
  } hello{};
  std::string idError;
  if (rank_ == 0) {
    const ncclResult_t r = api_.getUniqueId(&hello.id);
    hello.ok = r == ncclSuccess;
    if (!hello.ok) idError = api_.getErrorString(r);
  }
  checkTandem(tdmBroadcast(&hello, &hello, sizeof hello, tdmUint8, 0, tandem, nullptr), tandem,
              "tdmBroadcast (NCCL unique id)");
  if (!hello.ok) {
    throw std::runtime_error("ncclGetUniqueId failed on rank 0" +
                             (idError.empty() ? std::string() : ": " + idError));
  }
  const ncclResult_t r = api_.commInitRank(&comm_, nranks_, hello.id, rank_);
  if (r != ncclSuccess) {
    comm_ = nullptr;
    throw std::runtime_error(std::string("ncclCommInitRank failed: ") + api_.getErrorString(r));
  }
}

}  // namespace

std::unique_ptr<PeerLib> openNccl(tdmComm_t tandem) {
  auto nccl = std::make_unique<Nccl>();
  nccl->open(tandem);
  return nccl;
}

std::unique_ptr<PeerLib> openNcclIfAvailable(tdmComm_t tandem, int rank) {
  try {
    return openNccl(tandem);
  } catch (const std::exception& e) {
    if (rank == 0) std::printf("# NCCL not available: %s\n", e.what());
    return nullptr;
  }
}

}  // namespace tandem::perf
