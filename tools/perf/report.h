// The report of the benchmark tools, as nccl-tests prints it (README.md,
// "Output"): the header with every rank's device, one row per size with
// Tandem's and the peer's columns, and the footer with the averages. Also
// the timing helpers shmem_perf shares (median, timeString).
#ifndef TANDEM_TOOLS_PERF_REPORT_H_
#define TANDEM_TOOLS_PERF_REPORT_H_

#include <tandem/tandem.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common.h"
#include "nccl_peer.h"
#include "options.h"
#include "types.h"

namespace tandem::perf {

// Device timing reports the median of this many batches of -n iterations.
constexpr int kTimedBatches = 5;

// The median of `v` (the mean of the middle two when even); v not empty.
double median(std::vector<double> v);
// A time in microseconds as nccl-tests prints it: %7.2f below 100 us,
// %7.1f below 10 ms, %7.0f above.
std::string timeString(double usec);

// One sweep's fixed parameters, and one size's counts.
struct Shape {
  const TypeInfo* type = nullptr;
  int op = tdmSum;  // index into kOpNames
  int root = 0;     // call root (0 for rootless collectives)
  int printRoot = -1;
  Counts counts;
  bool peerOk = false;  // the peer (MPI or NCCL) runs this type/op
};

// One size and placement's measurement.
struct Result {
  double sec = -1;     // -1: not run
  int64_t wrong = -1;  // -1: not reported
};

class Report {
 public:
  // `device`: CUDA buffers; `mpi`: the MPI columns; `nccl`: the NCCL columns (or null).
  Report(const Test& test, const Options& opt, tdmComm_t comm, int rank, int nranks, bool device,
         bool mpi, const PeerLib* nccl)
      : test_(test),
        opt_(opt),
        comm_(comm),
        rank_(rank),
        nranks_(nranks),
        device_(device),
        mpi_(mpi),
        nccl_(nccl) {}

  // Collective (gathers every rank's device line); prints on rank 0.
  void header(const char* prog);
  // The row's first columns: size, count, type, redop, root.
  void rowStart(const Shape& s, size_t bytes, const char* opName) const;
  // Tandem's columns of one placement; every rank counts the bandwidth.
  void result(const Shape& s, const Result& r);
  // The peer's columns (MPI or NCCL) of one placement; dashes where it did not run.
  void peerResult(const Shape& s, const Result& peer, double tandemSec);
  void rowEnd() const;
  // The footer; returns false when the bus bandwidth floor
  // (TANDEM_PERF_MIN_BW or NCCL_TESTS_MIN_BW) was missed.
  bool footer(const char* prog, int errors, int peerErrors) const;

 private:
  bool main() const { return rank_ == 0; }
  std::string deviceLine() const;

  const Test& test_;
  const Options& opt_;
  tdmComm_t comm_;
  int rank_, nranks_;
  bool device_, mpi_;
  const PeerLib* nccl_;
  double bwSum_ = 0;
  int bwCount_ = 0;
  double peerBwSum_ = 0, ratioSum_ = 0;
  int peerBwCount_ = 0, ratioCount_ = 0;
};

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_REPORT_H_
