// shmem_perf's command line; see shmem_options.h.
#include "shmem_options.h"

#include <getopt.h>

#include <stdexcept>

#include "options.h"

namespace shmem_perf {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

size_t size_arg(const char* text, char flag) {
  const auto v = tandem::perf::parseSize(text);
  if (!v) fail(std::string("-") + flag + ": '" + text + "' is not a size (e.g. 8, 64K, 1G)");
  return *v;
}

int int_arg(const char* text, char flag, int lo, int hi) {
  const auto v = tandem::perf::parseInt(text);
  if (!v || *v < lo || *v > hi)
    fail(std::string("-") + flag + ": '" + text + "' must be an integer in [" + std::to_string(lo) +
         ", " + std::to_string(hi) + "]");
  return static_cast<int>(*v);
}

}  // namespace

const char* const kUsage =
    "usage: mpirun -np 2 shmem_perf [flags]   (PE 0 active, PE 1 target)\n"
    "  -b BYTES  smallest size (K/M/G suffixes, powers of 1024)      default 8\n"
    "  -e BYTES  largest size of the bandwidth tests                 default 1G\n"
    "  -f N      multiply the size by N each step (>= 2)             default 2\n"
    "  -l BYTES  largest size of the latency tests                   default 64K\n"
    "  -n N      in-kernel iterations per timed batch (bandwidth:\n"
    "            at most 4 GiB per batch)                            default 1000\n"
    "  -w N      untimed warmup iterations before each row           default 50\n"
    "  -r N      timed batches per row; the median is shown          default 5\n"
    "  -B N      blocks of the bandwidth grid                        default: SM count\n"
    "  -T N      threads per block (multiple of 32, <= 1024); also\n"
    "            the block of the block-scope latency tests          default 512\n"
    "  -t LIST   tests, comma separated, or all: put_bw,get_bw,ce_bw,\n"
    "            put_lat,get_lat,signal_lat                          default all\n"
    "  -h        this help\n"
    "Heap per PE: 2 x max(-e + 256 B, about 256 MiB of rotating regions) plus a\n"
    "little; TANDEM_SYMMETRIC_SIZE sets it (a smaller heap rotates fewer regions).\n";

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    if (i) o.command += ' ';
    o.command += argv[i];
  }
  std::string tests = "all";
  opterr = 0;  // our own message, from PE 0 only
  for (int c; (c = getopt(argc, argv, "b:e:f:l:n:w:r:B:T:t:h")) != -1;) {
    switch (c) {
      case 'b':
        o.min_bytes = size_arg(optarg, 'b');
        break;
      case 'e':
        o.max_bytes = size_arg(optarg, 'e');
        break;
      case 'f':
        o.factor = static_cast<size_t>(int_arg(optarg, 'f', 2, 1 << 20));
        break;
      case 'l':
        o.lat_max = size_arg(optarg, 'l');
        break;
      case 'n':
        o.iters = int_arg(optarg, 'n', 1, 1 << 30);
        break;
      case 'w':
        o.warmup = int_arg(optarg, 'w', 0, 1 << 30);
        break;
      case 'r':
        o.batches = int_arg(optarg, 'r', 1, 1000);
        break;
      case 'B':
        o.blocks = int_arg(optarg, 'B', 1, 1 << 20);
        break;
      case 'T':
        o.threads = int_arg(optarg, 'T', 32, 1024);
        break;
      case 't':
        tests = optarg;
        break;
      case 'h':
        o.help = true;
        break;
      default:
        fail(std::string("unknown flag or missing value: -") + char(optopt) + "\n" + kUsage);
    }
  }
  if (optind < argc) fail(std::string("unexpected argument '") + argv[optind] + "'\n" + kUsage);
  if (o.min_bytes == 0) fail("-b: sizes start at 1 byte");
  if (o.max_bytes < o.min_bytes) fail("-e must not be below -b");
  if (o.threads % 32) fail("-T must be a multiple of 32 (whole warps)");
  for (size_t at = 0; at <= tests.size();) {
    const size_t comma = std::min(tests.find(',', at), tests.size());
    const std::string_view name = std::string_view(tests).substr(at, comma - at);
    at = comma + 1;
    if (name == "all") {
      o.tests.assign(kTests.begin(), kTests.end());
    } else if (auto it = std::ranges::find(kTests, name); it != kTests.end()) {
      if (!o.wants(name)) o.tests.push_back(*it);
    } else {
      fail("-t: unknown test '" + std::string(name) + "' (put_bw,get_bw,ce_bw,put_lat,get_lat," +
           "signal_lat or all)");
    }
  }
  std::ranges::sort(o.tests, {}, [](std::string_view t) { return std::ranges::find(kTests, t); });
  return o;
}

std::vector<size_t> sizes(size_t lo, size_t hi, size_t factor) {
  return tandem::perf::sweepSizes(lo, hi, factor, 0);
}

int capped(int iters, size_t bytes) {
  if (iters <= 0) return 0;
  return static_cast<int>(
      std::clamp(kBatchBytes / static_cast<double>(bytes), 1.0, static_cast<double>(iters)));
}

Rotation rotation_for(const Options& o, size_t cap, size_t bytes) {
  const size_t stride = (bytes + kGuard + kAlign - 1) / kAlign * kAlign;
  const size_t want = (kRotateBytes + bytes - 1) / bytes;
  const size_t runs =
      size_t(capped(o.warmup, bytes)) + size_t(o.batches) * size_t(capped(o.iters, bytes));
  return {stride, std::max<size_t>(std::min({want, runs, cap / stride}), 1)};
}

size_t buffer_bytes_for(const Options& o, size_t cap) {
  if (!o.any_bandwidth()) return std::min(o.max_bytes, o.lat_max) + kGuard;
  size_t bytes = o.max_bytes + kGuard;
  for (size_t size : sizes(o.min_bytes, o.max_bytes, o.factor))
    bytes = std::max(bytes, rotation_for(o, cap, size).span());
  return bytes;
}

}  // namespace shmem_perf
