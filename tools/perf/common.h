// Shared driver of Tandem's benchmark tools (all_reduce_perf, ...).
//
// The tools follow nccl-tests: same flags, same table, same byte and bandwidth
// conventions. Each tool is one small file that describes its collective with
// a Test and hands it to runPerf(). The driver owns argument parsing, buffers
// (host or CUDA memory), timing, the correctness check, the comparison with a
// peer library (MPI on host memory, NCCL on CUDA memory) and the report. See
// README.md.
#ifndef TANDEM_TOOLS_PERF_COMMON_H_
#define TANDEM_TOOLS_PERF_COMMON_H_

#include <tandem/tandem.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>

#include "plan/collective.h"

#if TANDEM_PERF_HAVE_MPI
#include <mpi.h>
#endif

namespace tandem::perf {

// Element counts for one benchmark size, as nccl-tests' getCollByteCount():
// `send` and `recv` are the buffer lengths, `param` is the count argument of
// the call, and in-place calls use sendbuff = base + rank * sendInplaceOffset
// and recvbuff = base + rank * recvInplaceOffset on one buffer `base`.
struct Counts {
  size_t send = 0;
  size_t recv = 0;
  size_t param = 0;
  size_t sendInplaceOffset = 0;
  size_t recvInplaceOffset = 0;
};

// Where the reference value of one output element comes from: element `index`
// of rank `rank`'s input, or (rank == kAllRanks) the reduction of element
// `index` over every rank's input.
inline constexpr int kAllRanks = -1;
struct Source {
  int rank = kAllRanks;
  size_t index = 0;
};

// The library a call runs on: Tandem, or the peer it is compared with on CUDA
// memory (NCCL, loaded at run time). NCCL's calls with tdm types (same values
// and results as NCCL's); the object holds the communicator.
class Lib {
 public:
  virtual ~Lib() = default;
  virtual const char* name() const = 0;
  // The error string of `r` and the library's last error detail.
  virtual std::string describe(tdmResult_t r) const = 0;
  virtual tdmResult_t allReduce(const void* send, void* recv, size_t count, tdmDataType_t type,
                                tdmRedOp_t op, cudaStream_t stream) const = 0;
  virtual tdmResult_t broadcast(const void* send, void* recv, size_t count, tdmDataType_t type,
                                int root, cudaStream_t stream) const = 0;
  virtual tdmResult_t reduce(const void* send, void* recv, size_t count, tdmDataType_t type,
                             tdmRedOp_t op, int root, cudaStream_t stream) const = 0;
  virtual tdmResult_t allGather(const void* send, void* recv, size_t count, tdmDataType_t type,
                                cudaStream_t stream) const = 0;
  virtual tdmResult_t reduceScatter(const void* send, void* recv, size_t count, tdmDataType_t type,
                                    tdmRedOp_t op, cudaStream_t stream) const = 0;
  virtual tdmResult_t alltoAll(const void* send, void* recv, size_t count, tdmDataType_t type,
                               cudaStream_t stream) const = 0;
  virtual tdmResult_t gather(const void* send, void* recv, size_t count, tdmDataType_t type,
                             int root, cudaStream_t stream) const = 0;
  virtual tdmResult_t scatter(const void* send, void* recv, size_t count, tdmDataType_t type,
                              int root, cudaStream_t stream) const = 0;
  virtual tdmResult_t send(const void* buf, size_t count, tdmDataType_t type, int peer,
                           cudaStream_t stream) const = 0;
  virtual tdmResult_t recv(void* buf, size_t count, tdmDataType_t type, int peer,
                           cudaStream_t stream) const = 0;
  virtual tdmResult_t groupStart() const = 0;
  virtual tdmResult_t groupEnd() const = 0;
  // A premulsum op with a host scalar read before the call returns.
  virtual tdmResult_t redOpCreatePreMulSum(tdmRedOp_t* op, void* scalar,
                                           tdmDataType_t type) const = 0;
  virtual tdmResult_t redOpDestroy(tdmRedOp_t op) const = 0;
};

// One call of the benchmarked operation.
struct Call {
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;  // Counts::param
  tdmDataType_t type = tdmFloat;
  size_t elemBytes = 4;  // size of one element of `type`
  tdmRedOp_t op = tdmSum;
  int root = 0;
  int rank = 0;
  int nranks = 1;
  bool inPlace = false;
  const Lib* lib = nullptr;       // the library to call
  cudaStream_t stream = nullptr;  // NULL with host buffers
  bool device = false;            // buffers are CUDA device memory
};

// Copies `bytes` within this rank's buffers in the call's memory: memcpy on
// the host, cudaMemcpyAsync on the call's stream for device memory (so it is
// stream-ordered and captured in graphs). Throws on a CUDA error.
void copyLocal(const Call& c, void* dst, const void* src, size_t bytes);

#if TANDEM_PERF_HAVE_MPI
// The same call for MPI. Data-movement tests see MPI_BYTE and `scale` =
// element size (multiply counts by it); reductions see the element type and
// scale 1.
struct MpiCall {
  const void* send = nullptr;
  void* recv = nullptr;
  size_t count = 0;
  size_t scale = 1;
  MPI_Datatype type = MPI_BYTE;
  MPI_Op op = MPI_SUM;
  int root = 0;
  int rank = 0;
  int nranks = 1;
  bool inPlace = false;
  size_t elemBytes = 1;  // size of one element (for in-place offsets)
  MPI_Comm comm = MPI_COMM_WORLD;

  // count * scale as MPI's int count (-1, which MPI rejects, if too large).
  int n(size_t c) const {
    const size_t v = c * scale;
    return v > static_cast<size_t>(INT_MAX) ? -1 : static_cast<int>(v);
  }
};
#endif

class Test {
 public:
  virtual ~Test() = default;
  // The call measured. Its name, whether it takes an op or a root, and
  // nccl-tests' bus bandwidth factor come from Tandem's table of facts about
  // each call (src/plan/collective.h), which the library validates with.
  // Patterns of several calls (sendrecv, hypercube) name themselves.
  virtual tdm::plan::CallKind kind() const = 0;
  // "AllReduce", ...
  virtual const char* name() const { return tdm::plan::call_name(kind()); }
  // Reduction collectives loop over -o and print the op; others print "none".
  bool hasOp() const { return tdm::plan::facts(kind()).reduces; }
  // Rooted collectives loop over -r; others print root -1.
  bool hasRoot() const { return tdm::plan::facts(kind()).rooted; }
  // nccl-tests' getCollByteCount for `count` = size / typesize elements.
  virtual Counts counts(size_t count, int nranks) const = 0;
  // nccl-tests' getBw: algbw = algBytes / time, busbw = algbw * busFactor.
  virtual double algBytes(size_t param, size_t typeSize, int nranks) const = 0;
  double busFactor(int nranks) const { return tdm::plan::bus_factor(kind(), nranks); }
  // Empty when runnable with nranks ranks, else the reason.
  virtual const char* unsupported(int /*nranks*/) const { return nullptr; }
  // Issues the operation through c.lib: with host buffers it returns once the
  // operation is complete, with device buffers it is enqueued on c.stream.
  virtual tdmResult_t run(const Call& c) const = 0;
  // Output elements to verify on `rank`, counted from Call::recv, and the
  // reference of each.
  virtual size_t checkCount(int rank, int nranks, int root, size_t param) const = 0;
  virtual Source source(int rank, int nranks, int root, size_t param, size_t j) const = 0;
  // False where nccl-tests does not report errors (in-place sendrecv).
  virtual bool reportErrors(bool /*inPlace*/) const { return true; }
#if TANDEM_PERF_HAVE_MPI
  // MPI's equivalent; returns an MPI error code.
  virtual int runMpi(const MpiCall& c) const = 0;
#endif
};

// Parses argv, runs the benchmark, prints the report on rank 0 and returns
// the process exit status.
int runPerf(int argc, char** argv, const Test& test);

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_COMMON_H_
