// The benchmark tools' resources, each owned by one object so that every
// exit path releases it: Tandem's communicator, Tandem behind the Lib
// interface, symmetric windows (-R 2), host buffers and per-call premulsum
// ops; and the one error path (PerfError, thrown by TDMCHECK / LIBCHECK).
#ifndef TANDEM_TOOLS_PERF_RESOURCES_H_
#define TANDEM_TOOLS_PERF_RESOURCES_H_

#include <tandem/tandem.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "common.h"
#include "data.h"
#include "types.h"

namespace tandem::perf {

class PerfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws PerfError with Tandem's error string and tdmGetLastError(comm).
void checkTdm(tdmResult_t r, tdmComm_t comm, const char* what, const char* file, int line);
#define TDMCHECK(comm, call) ::tandem::perf::checkTdm((call), (comm), #call, __FILE__, __LINE__)

// A call to the library under test or to the peer, reported with its name.
void checkLib(const Lib& lib, tdmResult_t r, const char* what, const char* file, int line);
#define LIBCHECK(lib, call) ::tandem::perf::checkLib((lib), (call), #call, __FILE__, __LINE__)

// Tandem through the Lib interface the tests call.
class TandemLib final : public Lib {
 public:
  explicit TandemLib(tdmComm_t comm) : comm_(comm) {}
  const char* name() const override { return "Tandem"; }
  std::string describe(tdmResult_t r) const override {
    const char* last = tdmGetLastError(comm_);
    return std::string("'") + tdmGetErrorString(r) + "' (" + (last && *last ? last : "no detail") +
           ")";
  }
  tdmResult_t allReduce(const void* send, void* recv, size_t count, tdmDataType_t type,
                        tdmRedOp_t op, cudaStream_t stream) const override {
    return tdmAllReduce(send, recv, count, type, op, comm_, stream);
  }
  tdmResult_t broadcast(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                        cudaStream_t stream) const override {
    return tdmBroadcast(send, recv, count, type, root, comm_, stream);
  }
  tdmResult_t reduce(const void* send, void* recv, size_t count, tdmDataType_t type, tdmRedOp_t op,
                     int root, cudaStream_t stream) const override {
    return tdmReduce(send, recv, count, type, op, root, comm_, stream);
  }
  tdmResult_t allGather(const void* send, void* recv, size_t count, tdmDataType_t type,
                        cudaStream_t stream) const override {
    return tdmAllGather(send, recv, count, type, comm_, stream);
  }
  tdmResult_t reduceScatter(const void* send, void* recv, size_t count, tdmDataType_t type,
                            tdmRedOp_t op, cudaStream_t stream) const override {
    return tdmReduceScatter(send, recv, count, type, op, comm_, stream);
  }
  tdmResult_t alltoAll(const void* send, void* recv, size_t count, tdmDataType_t type,
                       cudaStream_t stream) const override {
    return tdmAlltoAll(send, recv, count, type, comm_, stream);
  }
  tdmResult_t gather(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                     cudaStream_t stream) const override {
    return tdmGather(send, recv, count, type, root, comm_, stream);
  }
  tdmResult_t scatter(const void* send, void* recv, size_t count, tdmDataType_t type, int root,
                      cudaStream_t stream) const override {
    return tdmScatter(send, recv, count, type, root, comm_, stream);
  }
  tdmResult_t send(const void* buf, size_t count, tdmDataType_t type, int peer,
                   cudaStream_t stream) const override {
    return tdmSend(buf, count, type, peer, comm_, stream);
  }
  tdmResult_t recv(void* buf, size_t count, tdmDataType_t type, int peer,
                   cudaStream_t stream) const override {
    return tdmRecv(buf, count, type, peer, comm_, stream);
  }
  tdmResult_t groupStart() const override { return tdmGroupStart(); }
  tdmResult_t groupEnd() const override { return tdmGroupEnd(); }
  tdmResult_t redOpCreatePreMulSum(tdmRedOp_t* op, void* scalar,
                                   tdmDataType_t type) const override {
    return tdmRedOpCreatePreMulSum(op, scalar, type, tdmScalarHostImmediate, comm_);
  }
  tdmResult_t redOpDestroy(tdmRedOp_t op) const override { return tdmRedOpDestroy(op, comm_); }

 private:
  tdmComm_t comm_;
};

class Comm {
 public:
  Comm() = default;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() {
    if (comm_) tdmCommDestroy(comm_);
  }
  tdmComm_t* out() { return &comm_; }
  tdmComm_t get() const { return comm_; }
  void destroy() {
    tdmComm_t c = std::exchange(comm_, nullptr);
    if (c) TDMCHECK(nullptr, tdmCommDestroy(c));
  }
  void abort() {
    if (tdmComm_t c = std::exchange(comm_, nullptr)) tdmCommAbort(c);
  }

 private:
  tdmComm_t comm_ = nullptr;
};

#if TANDEM_HAVE_CUDA
// A buffer registered as a symmetric window of Tandem's communicator (-R 2).
// Deregistration is collective: every rank releases its windows in the same order.
class SymmetricWindow {
 public:
  SymmetricWindow() = default;
  SymmetricWindow(tdmComm_t comm, void* buf, size_t bytes) : comm_(comm) {
    TDMCHECK(comm, tdmCommWindowRegister(comm, buf, bytes, &win_, TDM_WIN_COLL_SYMMETRIC));
  }
  SymmetricWindow(SymmetricWindow&& o) noexcept
      : comm_(o.comm_), win_(std::exchange(o.win_, nullptr)) {}
  SymmetricWindow& operator=(SymmetricWindow&& o) noexcept {
    std::swap(comm_, o.comm_);
    std::swap(win_, o.win_);
    return *this;
  }
  ~SymmetricWindow() {
    if (win_) tdmCommWindowDeregister(comm_, win_);
  }

 private:
  tdmComm_t comm_ = nullptr;
  tdmWindow_t win_ = nullptr;
};
#endif

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};
using HostBuffer = std::unique_ptr<std::byte[], FreeDeleter>;

// `bytes` (at least one page), page aligned; throws PerfError when out of memory.
HostBuffer allocHost(size_t bytes);

// A per-call premulsum op, destroyed when the call has been issued (as
// nccl-tests does; NCCL allows destroying an op once the call using it
// returned, even inside a group).
class ScopedOp {
 public:
  ScopedOp(int opIndex, const TypeInfo& t, int rank, const Lib& lib) : lib_(lib) {
    if (opIndex != kPreMulSum) {
      op_ = static_cast<tdmRedOp_t>(opIndex);
      return;
    }
    uint64_t scalar = t.kind == Kind::kFloat ? encodeFloat(t, preMulScalar(t, rank))
                                             : static_cast<uint64_t>(preMulScalar(t, rank));
    LIBCHECK(lib_, lib_.redOpCreatePreMulSum(&op_, &scalar, t.type));
    owned_ = true;
  }
  ScopedOp(const ScopedOp&) = delete;
  ScopedOp& operator=(const ScopedOp&) = delete;
  ~ScopedOp() {
    if (owned_) lib_.redOpDestroy(op_);
  }
  tdmRedOp_t get() const { return op_; }
  void destroy() {
    if (std::exchange(owned_, false)) LIBCHECK(lib_, lib_.redOpDestroy(op_));
  }

 private:
  const Lib& lib_;
  tdmRedOp_t op_ = tdmSum;
  bool owned_ = false;
};

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_RESOURCES_H_
