// Command-line options of the benchmark tools (nccl-tests' flags, README.md
// "Flags"), and the size and integer parsers shmem_perf shares.
#ifndef TANDEM_TOOLS_PERF_OPTIONS_H_
#define TANDEM_TOOLS_PERF_OPTIONS_H_

#include <tandem/tandem.h>

#include <cstddef>
#include <optional>
#include <vector>

namespace tandem::perf {

// Buffer memory: kAuto is CUDA when a device is visible, else host.
enum class Mem { kAuto, kHost, kCuda };

struct Options {
  size_t minBytes = 32 << 20;
  size_t maxBytes = 32 << 20;
  size_t stepBytes = 1 << 20;
  size_t stepFactor = 1;
  int iters = 20;
  int warmupIters = 5;
  int aggIters = 1;
  int check = 1;
  int op = tdmSum;      // -1: all
  int type = tdmFloat;  // -1: all
  int root = 0;         // -1: all
  int average = 1;
  int blocking = 0;
  int graph = 0;
  int registration = 0;  // -R 2: Tandem's buffers as symmetric windows
  int cycles = 1;
  int parallelInit = 0;
  bool mpi = false;  // -M 1: compare with MPI (host memory) or NCCL (CUDA memory)
  Mem mem = Mem::kAuto;
};

// A size: a number with an optional K, M or G suffix (powers of 1024, either
// case; fractions allowed, "1.5K"); nullopt if malformed or negative.
std::optional<size_t> parseSize(const char* s);
// An integer (decimal, 0x hex or 0 octal); nullopt if malformed.
std::optional<long> parseInt(const char* s);

// The sizes of a sweep: minBytes, then times `factor` (when > 1) or plus
// `step`, up to maxBytes (stopping where the next size would overflow).
std::vector<size_t> sweepSizes(size_t minBytes, size_t maxBytes, size_t factor, size_t step);

void usage(const char* prog);

// Parses argv into *o. Returns the exit status when the program must stop
// (help, bad arguments), nullopt to run.
std::optional<int> parseOptions(int argc, char** argv, const char* prog, Options* o);

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_OPTIONS_H_
