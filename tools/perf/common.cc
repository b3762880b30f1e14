// Shared driver of Tandem's benchmark tools (see common.h and README.md):
// runPerf sets up memory, MPI and the communicators around the benchmark loop
// (bench.h). Options in options.h, the report in report.h, the check's data in
// data.h, owned resources in resources.h, the peers in mpi_peer.h and
// nccl_peer.h.
#include "common.h"

#include <libgen.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "bench.h"
#include "nccl_peer.h"  // declarations only: PeerLib is named in CUDA-less builds too
#include "options.h"
#include "resources.h"
#include "tests/common/device_choice.h"
#if TANDEM_HAVE_CUDA
#include "device.h"
#endif
#if TANDEM_PERF_HAVE_MPI
#include "mpi_peer.h"
#endif

namespace tandem::perf {
namespace {

// Resolves --mem and, for CUDA memory, makes this process's GPU current
// (before any communicator exists, so both libraries bind to it). Returns
// false, with the reason printed, when CUDA memory was asked for but cannot
// be had.
bool chooseMemory(const Options& opt, const char* prog, bool* device) {
  *device = false;
  if (opt.mem == Mem::kHost) return true;
#if TANDEM_HAVE_CUDA
  std::string why;
  const int count = cuda::deviceCount(&why);
  if (count == 0) {
    if (opt.mem == Mem::kAuto) return true;
    std::fprintf(stderr, "%s: --mem cuda: no CUDA device is visible (%s); use --mem host\n", prog,
                 why.empty() ? "cudaGetDeviceCount returned 0" : why.c_str());
    return false;
  }
  CUDACHECK(cudaSetDevice(tdm::test::device_for_local_rank(count)));
  *device = true;
  return true;
#else
  if (opt.mem == Mem::kAuto) return true;
  std::fprintf(stderr, "%s: --mem cuda: this build has no CUDA (configure with nvcc present)\n",
               prog);
  return false;
#endif
}

}  // namespace

void copyLocal(const Call& c, void* dst, const void* src, size_t bytes) {
  if (!c.device) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if TANDEM_HAVE_CUDA
  CUDACHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c.stream));
#else
  throw PerfError("device buffers in a build without CUDA");
#endif
}

int runPerf(int argc, char** argv, const Test& test) {
  setlinebuf(stdout);
  std::string progBuf = argc > 0 ? argv[0] : "perf";
  const std::string prog = basename(progBuf.data());

  Options opt;
  if (auto status = parseOptions(argc, argv, prog.c_str(), &opt)) return *status;

#if TANDEM_PERF_HAVE_MPI
  std::optional<MpiSession> session;
#endif
  Comm comm;
  try {
    Memory mem;
    if (!chooseMemory(opt, prog.c_str(), &mem.device)) return 1;
#if TANDEM_HAVE_CUDA
    std::optional<cuda::Stream> stream;
    if (mem.device) mem.stream = stream.emplace().get();
#endif

    // The peer: MPI on host memory, NCCL on CUDA memory.
    const bool wantMpi = opt.mpi && !mem.device;
    bool mpi = false;
#if TANDEM_PERF_HAVE_MPI
    // MPI first: Tandem's mpirun path uses an initialized MPI.
    session.emplace(wantMpi || launchedByMpirun());
#else
    if (wantMpi) std::fprintf(stderr, "%s: built without MPI; -M 1 ignored\n", prog.c_str());
#endif

    TDMCHECK(nullptr, tdmCommInitWorld(comm.out(), nullptr));
#if TANDEM_PERF_HAVE_MPI
    if (wantMpi) {
      int rank = 0, nranks = 0, mpiRank = -1, mpiSize = -1;
      TDMCHECK(comm.get(), tdmCommUserRank(comm.get(), &rank));
      TDMCHECK(comm.get(), tdmCommCount(comm.get(), &nranks));
      MPI_Comm_rank(MPI_COMM_WORLD, &mpiRank);
      MPI_Comm_size(MPI_COMM_WORLD, &mpiSize);
      // All ranks must agree; a rank whose MPI world differs votes no.
      int32_t mismatch = mpiRank != rank || mpiSize != nranks, any = 0;
      TDMCHECK(comm.get(), tdmAllReduce(&mismatch, &any, 1, tdmInt32, tdmMax, comm.get(), nullptr));
      mpi = any == 0;
      if (!mpi && rank == 0) {
        std::printf(
            "# MPI comparison disabled: MPI_COMM_WORLD does not match the Tandem ranks "
            "(launch with mpirun for -M 1)\n");
      }
    }
#endif
    int status = 0;
    {
      std::unique_ptr<PeerLib> nccl;
#if TANDEM_HAVE_CUDA
      if (opt.mpi && mem.device) nccl = openNccl(comm.get());
#endif
      Bench bench(test, opt, comm.get(), mem, mpi, nccl.get());
      status = bench.run(prog.c_str());
    }  // buffers and the NCCL communicator go before Tandem's
    comm.destroy();
    return status;
  } catch (const std::exception& e) {
    char host[128] = {};
    gethostname(host, sizeof host - 1);
    int rank = -1;
    if (comm.get()) tdmCommUserRank(comm.get(), &rank);
    std::fprintf(stderr, "%s: rank %d on %s: %s\n", prog.c_str(), rank, host, e.what());
    std::fflush(stderr);
    comm.abort();
#if TANDEM_PERF_HAVE_MPI
    if (session && session->active()) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    return 1;
  }
}

}  // namespace tandem::perf
