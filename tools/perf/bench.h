// The benchmark loop (README.md, "Timing" and "Correctness check"): for
// each type, op and root, warm up, then time and check every size out of place
// and in place on Tandem and on the peer library, and report each row.
#ifndef TANDEM_TOOLS_PERF_BENCH_H_
#define TANDEM_TOOLS_PERF_BENCH_H_

#include <tandem/tandem.h>

#include <cstddef>
#include <cstdint>

#include "common.h"
#include "data.h"
#include "nccl_peer.h"  // declarations only: PeerLib is named in CUDA-less builds too
#include "options.h"
#include "report.h"
#include "resources.h"
#include "types.h"
#if TANDEM_HAVE_CUDA
#include "device.h"
#endif
#if TANDEM_PERF_HAVE_MPI
#include "mpi_peer.h"
#endif

namespace tandem::perf {

// Where the buffers live: host memory (stream null), or the CUDA device
// current in this process and its stream.
struct Memory {
  bool device = false;
  cudaStream_t stream = nullptr;
};

class Bench {
 public:
  // `nccl`: the peer on CUDA memory, or null; `mpi`: the MPI comparison on
  // host memory.
  Bench(const Test& test, const Options& opt, tdmComm_t comm, Memory mem, bool mpi,
        const PeerLib* nccl);

  // Returns the exit status.
  int run(const char* prog);

 private:
  bool main() const { return rank_ == 0; }
  // "MPI", "NCCL" or null.
  const char* peerName() const { return mpi_ ? "MPI" : nccl_ ? nccl_->name() : nullptr; }

  void barrier();
  // The time reported per -a (nccl-tests' Allreduce(args, &deltaSec, average)).
  double reduceTime(double sec);

  int64_t sumAll(int64_t v);
  void setup(Shape* s, size_t bytes) const;
  size_t totalBytes(const Shape& s) const;

  // nccl-tests rotates through the buffers across iterations to avoid cache
  // effects: iteration `iter` uses offset total * (iter % (maxBytes / total)).
  Call callFor(const Lib& lib, const Shape& s, bool inPlace, size_t iter) const;

  void issue(const Lib& lib, const Shape& s, bool inPlace, size_t iter);

  // Host memory: times opt_.iters iterations of opt_.aggIters calls, which
  // return when complete; returns seconds per call.
  double timeHost(const Lib& lib, const Shape& s, bool inPlace);

#if TANDEM_HAVE_CUDA
  void sync() const { CUDACHECK(cudaStreamSynchronize(mem_.stream)); }

  // -z: wait for the stream, then for every rank.
  void blockingPoint();

  // Enqueues opt_.iters iterations of opt_.aggIters calls on the stream.
  void enqueueIters(const Lib& lib, const Shape& s, bool inPlace, bool blocking);

  // CUDA memory: one untimed call, then kTimedBatches batches timed by events
  // on the stream, each opt_.iters iterations (with -G, opt_.graph launches
  // of one graph that captured them); returns the median batch's seconds per
  // call, combined over ranks per -a.
  double timeDevice(const Lib& lib, const Shape& s, bool inPlace);

  // Host-generated values copied in; random and never zero, so the timed
  // calls move and reduce real data.
  void fillRandom(const TypeInfo& t);

  // Device check: the inputs and outputs pass through stage_.
  int64_t checkDevice(const Lib& lib, const Shape& s, bool inPlace, const DataModel& model);
#endif

  int64_t countWrong(const Shape& s, const DataModel& model, const std::byte* out) const;

  // Runs the call once on fresh inputs and counts wrong output elements on
  // every rank.
  int64_t checkOnce(const Lib& lib, const Shape& s, bool inPlace);

  // Times `lib` on one size and placement, then checks it per -c.
  Result bench(const Lib& lib, const Shape& s, bool inPlace);

#if TANDEM_PERF_HAVE_MPI
  void issueMpi(const Shape& s, bool inPlace, size_t iter);

  double timeMpi(const Shape& s, bool inPlace);
#endif

  // Fills both buffers with ones so timed runs never see NaNs or denormals.
  void fillOnes(const TypeInfo& t);

  void allocate();
  void sweep(const TypeInfo& t, int op, int root);

  const Test& test_;
  const Options& opt_;
  tdmComm_t comm_;
  TandemLib tandem_;
  Memory mem_;
  bool mpi_;
  const PeerLib* nccl_;
  int rank_ = 0;
  int nranks_ = 1;
  Report report_;
  // The buffers the calls use (host or device), their owners, and on device
  // the host staging buffer of fills and checks.
  std::byte* send_ = nullptr;
  std::byte* recv_ = nullptr;
  HostBuffer hostSend_, hostRecv_, stage_;
#if TANDEM_HAVE_CUDA
  cuda::DeviceBuffer devSend_, devRecv_;
  SymmetricWindow sendWindow_, recvWindow_;  // -R 2; released before the buffers
#endif
  size_t bufBytes_ = 0;
  int32_t barrierIn_ = 0, barrierOut_ = 0;
  uint64_t rep_ = 0;
  int errors_ = 0, peerErrors_ = 0;
};

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_BENCH_H_
