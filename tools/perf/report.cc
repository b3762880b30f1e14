// The benchmark tools' report; see report.h.
#include "report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "nccl_peer.h"  // declarations only: PeerLib is named in CUDA-less builds too
#include "resources.h"
#if TANDEM_HAVE_CUDA
#include "device.h"
#endif
#if TANDEM_PERF_HAVE_MPI
#include <mpi.h>
#endif

namespace tandem::perf {
namespace {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto s = line.substr(colon + 1);
        s.erase(0, s.find_first_not_of(' '));
        return s;
      }
    }
  }
  return "CPU";
}

// `text` centered in `width` columns.
std::string centered(const std::string& text, size_t width) {
  if (text.size() >= width) return text;
  const size_t left = (width - text.size()) / 2;
  return std::string(left, ' ') + text + std::string(width - text.size() - left, ' ');
}

}  // namespace

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string timeString(double usec) {
  char s[32];
  if (usec >= 10000.0) {
    std::snprintf(s, sizeof s, "%7.0f", usec);
  } else if (usec >= 100.0) {
    std::snprintf(s, sizeof s, "%7.1f", usec);
  } else {
    std::snprintf(s, sizeof s, "%7.2f", usec);
  }
  return s;
}

// This rank's line of "Using devices", as nccl-tests prints it.
std::string Report::deviceLine() const {
  char host[128] = {};
  gethostname(host, sizeof host - 1);
  char line[512];  // room for a 255-character device name; cut to kLine by the caller
  if (device_) {
#if TANDEM_HAVE_CUDA
    int dev = -1;
    CUDACHECK(cudaGetDevice(&dev));
    cudaDeviceProp p{};
    CUDACHECK(cudaGetDeviceProperties(&p, dev));
    std::snprintf(line, sizeof line,
                  "#  Rank %2d Group %2d Pid %6d on %10s device %2d [%04x:%02x:%02x] %s\n", rank_,
                  0, static_cast<int>(getpid()), host, dev, p.pciDomainID, p.pciBusID,
                  p.pciDeviceID, p.name);
#endif
  } else {
    int dev = -1;
    TDMCHECK(comm_, tdmCommCuDevice(comm_, &dev));
    std::snprintf(line, sizeof line, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [host] %s\n",
                  rank_, 0, static_cast<int>(getpid()), host, dev, cpuModel().c_str());
  }
  return line;
}

// The NCCL columns per placement: "  time  busbw  #wrong  t_ratio  bw_ratio".
constexpr size_t kNcclColumnsWidth = 2 + 7 + 2 + 6 + 2 + 6 + 2 + 7 + 2 + 8;

void Report::header(const char* prog) {
  int version = 0;
  TDMCHECK(comm_, tdmGetVersion(&version));
  if (main()) {
    std::printf("# Tandem perf version %d.%d.%d tandem-headers=%d tandem-library=%d\n", TDM_MAJOR,
                TDM_MINOR, TDM_PATCH, TDM_VERSION_CODE, version);
    std::printf("# Collective test starting: %s\n", prog);
    std::printf(
        "# nThread %d nGpus %d minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d "
        "agg iters: %d validation: %d graph: %d\n",
        1, 1, opt_.minBytes, opt_.maxBytes, opt_.stepFactor > 1 ? opt_.stepFactor : opt_.stepBytes,
        opt_.stepFactor > 1 ? "factor" : "bytes", opt_.warmupIters, opt_.iters, opt_.aggIters,
        opt_.check, opt_.graph);
    if (opt_.blocking) {
      std::printf("# Blocking Enabled: wait for completion and barrier after each collective \n");
    }
    if (device_) {
#if TANDEM_HAVE_CUDA
      int dev = 0, runtime = 0, driver = 0;
      CUDACHECK(cudaGetDevice(&dev));
      cudaDeviceProp p{};
      CUDACHECK(cudaGetDeviceProperties(&p, dev));
      CUDACHECK(cudaRuntimeGetVersion(&runtime));
      CUDACHECK(cudaDriverGetVersion(&driver));
      std::printf("# Device: %s (sm_%d%d), CUDA runtime %d.%d, driver %d.%d\n", p.name, p.major,
                  p.minor, runtime / 1000, runtime % 1000 / 10, driver / 1000, driver % 1000 / 10);
      std::printf(
          "# Buffers: CUDA device memory (cudaMalloc), one non-blocking stream per process; "
          "time: CUDA events, median of %d batches of %d iterations\n",
          kTimedBatches, opt_.iters);
      if (opt_.registration == 2)
        std::printf("# Tandem's buffers registered as symmetric windows (-R 2); NCCL's not\n");
      if (opt_.graph) {
        std::printf("# CUDA graph: the %d iterations captured once, launched %d times per batch\n",
                    opt_.iters, opt_.graph);
      }
#endif
    } else {
      std::printf("# Buffers: host memory\n");
      if (opt_.graph) std::printf("# CUDA graphs (-G) have no effect with host buffers\n");
    }
#if TANDEM_PERF_HAVE_MPI
    if (mpi_) {
      char lib[MPI_MAX_LIBRARY_VERSION_STRING];
      int len = 0;
      MPI_Get_library_version(lib, &len);
      std::string name(lib, static_cast<size_t>(len));
      name = name.substr(0, name.find_first_of(",\n"));
      std::printf(
          "# MPI comparison: %s; columns 'MPI': its time and busbw on the same buffers, ratio = "
          "Tandem busbw / MPI busbw\n",
          name.c_str());
    }
#endif
    if (nccl_) {
      // NCCL_VERSION_CODE: X*10000+Y*100+Z since 2.9, X*1000+Y*100+Z before.
      const int v = nccl_->version();
      const int major = v >= 10000 ? v / 10000 : v / 1000;
      const int minor = v >= 10000 ? v % 10000 / 100 : v % 1000 / 100;
      std::printf(
          "# NCCL comparison: NCCL %d.%d.%d (%s, NCCL_NVLS_ENABLE=0); columns 'NCCL': its time, "
          "busbw and #wrong on the same buffers and stream, t_ratio = Tandem time / NCCL time, "
          "bw_ratio = Tandem busbw / NCCL busbw\n",
          major, minor, v % 100, nccl_->path().c_str());
    }
    std::printf("#\n# Using devices\n");
  }

  // Every rank's line, gathered in rank order to rank 0.
  constexpr size_t kLine = 256;
  std::vector<char> mine(kLine, '\0');
  const std::string line = deviceLine();
  std::memcpy(mine.data(), line.data(), std::min(line.size(), kLine - 1));
  std::vector<char> all(kLine * static_cast<size_t>(nranks_));
  TDMCHECK(comm_, tdmAllGather(mine.data(), all.data(), kLine, tdmUint8, comm_, nullptr));
  if (main()) {
    for (int r = 0; r < nranks_; ++r) {
      all[kLine * static_cast<size_t>(r) + kLine - 1] = '\0';
      std::printf("%s", all.data() + kLine * static_cast<size_t>(r));
    }
    std::printf("#\n");
    std::string peerTitle;
    if (mpi_) peerTitle = "     MPI out-of-place           MPI in-place      ";
    if (nccl_) {
      peerTitle = centered("NCCL out-of-place", kNcclColumnsWidth) +
                  centered("NCCL in-place", kNcclColumnsWidth);
    }
    std::printf(
        "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place"
        "          %s\n",
        "", "", "", "", "", peerTitle.c_str());
    std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s", "size",
                "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time",
                "algbw", "busbw", "#wrong");
    if (mpi_) {
      std::printf("  %7s  %6s  %6s  %7s  %6s  %6s", "time", "busbw", "ratio", "time", "busbw",
                  "ratio");
    }
    for (int i = 0; nccl_ && i < 2; ++i) {
      std::printf("  %7s  %6s  %6s  %7s  %8s", "time", "busbw", "#wrong", "t_ratio", "bw_ratio");
    }
    std::printf("\n# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s", "(B)",
                "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                "(GB/s)", "");
    if (mpi_) {
      std::printf("  %7s  %6s  %6s  %7s  %6s  %6s", "(us)", "(GB/s)", "", "(us)", "(GB/s)", "");
    }
    for (int i = 0; nccl_ && i < 2; ++i) {
      std::printf("  %7s  %6s  %6s  %7s  %8s", "(us)", "(GB/s)", "", "", "");
    }
    std::printf("\n");
    std::fflush(stdout);
  }
}

void Report::rowStart(const Shape& s, size_t bytes, const char* opName) const {
  if (!main()) return;
  std::printf("%12zu  %12zu  %8s  %6s  %6d", bytes, s.counts.param, s.type->name, opName,
              s.printRoot);
  std::fflush(stdout);
}

void Report::result(const Shape& s, const Result& r) {
  const double algBw =
      test_.algBytes(s.counts.param, s.type->size, nranks_) / 1.0e9 / std::max(r.sec, 1e-12);
  const double busBw = algBw * test_.busFactor(nranks_);
  bwSum_ += busBw;
  ++bwCount_;
  if (!main()) return;
  if (r.wrong < 0) {
    std::printf("  %7s  %6.2f  %6.2f  %5s", timeString(r.sec * 1e6).c_str(), algBw, busBw, "N/A");
  } else {
    std::printf("  %7s  %6.2f  %6.2f  %5lld", timeString(r.sec * 1e6).c_str(), algBw, busBw,
                static_cast<long long>(r.wrong));
  }
}

// The peer's columns: MPI (time, busbw, ratio) or NCCL (time, busbw, #wrong,
// t_ratio, bw_ratio); dashes where the peer did not run.
void Report::peerResult(const Shape& s, const Result& peer, double tandemSec) {
  if (peer.sec < 0) {
    if (main() && mpi_) std::printf("  %7s  %6s  %6s", "-", "-", "-");
    if (main() && nccl_) std::printf("  %7s  %6s  %6s  %7s  %8s", "-", "-", "-", "-", "-");
    return;
  }
  const double algBw =
      test_.algBytes(s.counts.param, s.type->size, nranks_) / 1.0e9 / std::max(peer.sec, 1e-12);
  const double busBw = algBw * test_.busFactor(nranks_);
  const double ratio = peer.sec / std::max(tandemSec, 1e-12);  // = Tandem busbw / peer busbw
  peerBwSum_ += busBw;
  ++peerBwCount_;
  ratioSum_ += ratio;
  ++ratioCount_;
  if (!main()) return;
  if (mpi_) {
    std::printf("  %7s  %6.2f  %6.2f", timeString(peer.sec * 1e6).c_str(), busBw, ratio);
    return;
  }
  const std::string wrong = peer.wrong < 0 ? "N/A" : std::to_string(peer.wrong);
  std::printf("  %7s  %6.2f  %6s  %7.2f  %8.2f", timeString(peer.sec * 1e6).c_str(), busBw,
              wrong.c_str(), tandemSec / std::max(peer.sec, 1e-12), ratio);
}

void Report::rowEnd() const {
  if (!main()) return;
  std::printf("\n");
  std::fflush(stdout);
}

bool Report::footer(const char* prog, int errors, int peerErrors) const {
  const double avgBw = bwCount_ ? bwSum_ / bwCount_ : 0;
  const char* minBwEnv = std::getenv("TANDEM_PERF_MIN_BW");
  if (!minBwEnv) minBwEnv = std::getenv("NCCL_TESTS_MIN_BW");
  const double minBw = minBwEnv ? std::atof(minBwEnv) : -1;
  const bool bwFailed = minBw >= 0 && avgBw < minBw * 0.9;
  if (main()) {
    std::printf("# Out of bounds values : %d %s\n", errors, errors ? "FAILED" : "OK");
    std::printf("# Avg bus bandwidth    : %g %s\n", avgBw,
                minBw < 0 ? "" : (bwFailed ? "FAILED" : "OK"));
    if (mpi_) {
      std::printf("# Avg MPI bus bandwidth: %g\n", peerBwCount_ ? peerBwSum_ / peerBwCount_ : 0);
      std::printf("# Avg Tandem/MPI busbw : %g\n", ratioCount_ ? ratioSum_ / ratioCount_ : 0);
    }
    if (nccl_) {
      std::printf("# NCCL out of bounds values: %d %s\n", peerErrors, peerErrors ? "FAILED" : "OK");
      std::printf("# Avg NCCL bus bandwidth: %g\n", peerBwCount_ ? peerBwSum_ / peerBwCount_ : 0);
      std::printf("# Avg Tandem/NCCL busbw : %g\n", ratioCount_ ? ratioSum_ / ratioCount_ : 0);
    }
    std::printf("#\n# Collective test concluded: %s\n#\n", prog);
    std::fflush(stdout);
  }
  return !bwFailed;
}

}  // namespace tandem::perf
