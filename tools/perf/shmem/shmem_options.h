// shmem_perf's command line: its own flags (NVSHMEM perftest style, see
// kUsage), parsed with the perf tools' size and integer parsers (options.h),
// and the sizes, batches and buffer rotation they imply.
#ifndef TANDEM_TOOLS_PERF_SHMEM_SHMEM_OPTIONS_H_
#define TANDEM_TOOLS_PERF_SHMEM_SHMEM_OPTIONS_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shmem_perf {

constexpr std::array<std::string_view, 6> kTests{"put_bw",  "get_bw",  "ce_bw",
                                                 "put_lat", "get_lat", "signal_lat"};

struct Options {
  size_t min_bytes = 8;
  size_t max_bytes = size_t(1) << 30;
  size_t factor = 2;
  size_t lat_max = size_t(64) << 10;
  int iters = 1000;
  int warmup = 50;
  int batches = 5;
  int blocks = 0;  // 0: one per SM
  int threads = 512;
  std::vector<std::string_view> tests;  // in kTests order
  std::string command;
  bool help = false;

  bool wants(std::string_view test) const { return std::ranges::find(tests, test) != tests.end(); }
  bool any_bandwidth() const { return wants("put_bw") || wants("get_bw") || wants("ce_bw"); }
};

constexpr size_t kGuard = 256;  // bytes after each transfer that must stay poisoned
constexpr double kBatchBytes = 4.0 * (size_t(1) << 30);  // cap of one bandwidth batch
constexpr size_t kAlign = 256;  // tdmShmemMalloc's alignment, and that of every region
// Bandwidth rows rotate over regions covering this much (see Rotation): far
// beyond the caches (H200: 50 MB of L2, 132 x 256 KB of L1 / shared memory).
constexpr size_t kRotateBytes = size_t(256) << 20;

// b, b*f, b*f^2, ... up to `hi` (the perf tools' sweep with factor f).
std::vector<size_t> sizes(size_t lo, size_t hi, size_t factor);

// Iterations of a bandwidth batch: `iters`, fewer where that would move more
// than kBatchBytes; 0 stays 0 (no warmup).
int capped(int iters, size_t bytes);

// The regions one bandwidth row rotates over. Why: an iteration that moved
// the same bytes as the last one would find them in the caches (get: PE 0's
// plain loads of the peer's bytes hit in L1 / L2 from the second iteration
// on), so from 128 KiB to a few MiB the rows measured the cache, not the
// interconnect. Iteration i of a row (the warmup and the batches counted on)
// therefore moves region i % regions of the source and of the destination.
// Enough regions to cover kRotateBytes, but no more than the row's iterations
// (then no bytes are moved twice in a row) nor than fit in `cap` bytes.
// Regions are `stride` apart: the size and its guard, rounded up to kAlign.
struct Rotation {
  size_t stride, regions;
  size_t span() const { return stride * regions; }
};

Rotation rotation_for(const Options& o, size_t cap, size_t bytes);

// Bytes of each of the buffers a and b: the largest rotation (at least one
// region of the largest size), or the largest latency transfer.
size_t buffer_bytes_for(const Options& o, size_t cap);

extern const char* const kUsage;

// Throws std::runtime_error with the reason (and the usage where it helps).
Options parse_options(int argc, char** argv);

}  // namespace shmem_perf

#endif  // TANDEM_TOOLS_PERF_SHMEM_SHMEM_OPTIONS_H_
