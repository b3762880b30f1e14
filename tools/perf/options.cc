// Command-line options of the benchmark tools; see options.h.
#include "options.h"

#include <getopt.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string_view>

#include "types.h"

namespace tandem::perf {

std::optional<size_t> parseSize(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v < 0) return std::nullopt;
  double units = 1;
  switch (*end) {
    case '\0':
      break;
    case 'G':
    case 'g':
      units = 1024.0 * 1024 * 1024;
      break;
    case 'M':
    case 'm':
      units = 1024.0 * 1024;
      break;
    case 'K':
    case 'k':
      units = 1024.0;
      break;
    default:
      return std::nullopt;
  }
  if (*end != '\0' && end[1] != '\0') return std::nullopt;
  const double bytes = v * units;
  if (!(bytes < 0x1p64)) return std::nullopt;  // NaN, infinity or past size_t
  return static_cast<size_t>(bytes);
}

std::optional<long> parseInt(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 0);
  if (end == s || *end != '\0') return std::nullopt;
  return v;
}

std::vector<size_t> sweepSizes(size_t minBytes, size_t maxBytes, size_t factor, size_t step) {
  std::vector<size_t> out;
  for (size_t size = minBytes; size <= maxBytes;) {
    out.push_back(size);
    const size_t next = factor > 1 ? size * factor : size + step;
    if (next <= size || (factor > 1 && size > maxBytes / factor)) break;
    size = next;
  }
  return out;
}

void usage(const char* prog) {
  std::printf(
      "USAGE: %s\n"
      "\t[-t,--nthreads <num threads>] (1 only)\n"
      "\t[-g,--ngpus <gpus per thread>] (1 only: one process per GPU)\n"
      "\t[-b,--minbytes <min size in bytes, K/M/G suffixes>]\n"
      "\t[-e,--maxbytes <max size in bytes, K/M/G suffixes>]\n"
      "\t[-i,--stepbytes <increment size>]\n"
      "\t[-f,--stepfactor <increment factor>]\n"
      "\t[-n,--iters <iteration count>]\n"
      "\t[-m,--agg_iters <aggregated iteration count>]\n"
      "\t[-w,--warmup_iters <warmup iteration count>]\n"
      "\t[-N,--run_cycles <cycle count> run & print each cycle (0=infinite)]\n"
      "\t[-p,--parallel_init <0/1>] (accepted, no effect)\n"
      "\t[-c,--check <check iteration count>]\n"
      "\t[-o,--op <sum/prod/min/max/avg/premulsum/all>]\n"
      "\t[-d,--datatype <int8/uint8/int32/uint32/int64/uint64/half/float/double/bfloat16/"
      "f8e4m3/f8e5m2/all>]\n"
      "\t[-r,--root <root, -1 = all roots>]\n"
      "\t[-z,--blocking <0/1>] synchronize (and barrier) after every collective\n"
      "\t[-G,--cudagraph <num graph launches>] capture the -n iterations in one CUDA graph and\n"
      "\t\tlaunch it this many times (CUDA memory only)\n"
      "\t[-R,--local_register <0/2>] 2: register Tandem's buffers as symmetric windows\n"
      "\t\t(tdmCommWindowRegister, TDM_WIN_COLL_SYMMETRIC; CUDA memory only, NCCL's stay plain)\n"
      "\t[-a,--average <0/1/2/3> report average iteration time <0=RANK0/1=AVG/2=MIN/3=MAX>]\n"
      "\t[-M,--mpi <0/1> also time the peer library on the same buffers: MPI on host memory,\n"
      "\t\tNCCL on CUDA memory (libnccl.so.2 or $TANDEM_NCCL_LIBRARY)]\n"
      "\t[--mem <host/cuda>] buffer memory (default: cuda when a GPU is visible, else host)\n"
      "\t[-h,--help]\n",
      prog);
}

std::optional<int> parseOptions(int argc, char** argv, const char* prog, Options* o) {
  enum { kMemOption = 1000 };
  static const option longopts[] = {
      {"nthreads", required_argument, nullptr, 't'},
      {"ngpus", required_argument, nullptr, 'g'},
      {"minbytes", required_argument, nullptr, 'b'},
      {"maxbytes", required_argument, nullptr, 'e'},
      {"stepbytes", required_argument, nullptr, 'i'},
      {"stepfactor", required_argument, nullptr, 'f'},
      {"iters", required_argument, nullptr, 'n'},
      {"agg_iters", required_argument, nullptr, 'm'},
      {"warmup_iters", required_argument, nullptr, 'w'},
      {"run_cycles", required_argument, nullptr, 'N'},
      {"parallel_init", required_argument, nullptr, 'p'},
      {"check", required_argument, nullptr, 'c'},
      {"op", required_argument, nullptr, 'o'},
      {"datatype", required_argument, nullptr, 'd'},
      {"root", required_argument, nullptr, 'r'},
      {"blocking", required_argument, nullptr, 'z'},
      {"cudagraph", required_argument, nullptr, 'G'},
      {"local_register", required_argument, nullptr, 'R'},
      {"average", required_argument, nullptr, 'a'},
      {"mpi", required_argument, nullptr, 'M'},
      {"mem", required_argument, nullptr, kMemOption},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  auto bad = [&](const char* what, const char* value) {
    std::fprintf(stderr, "%s: invalid value '%s' for %s\n", prog, value, what);
    return std::optional<int>(1);
  };
  auto intArg = [&](const char* what, long lo, long hi, int* out) -> bool {
    const auto v = parseInt(optarg);
    if (!v || *v < lo || *v > hi) {
      bad(what, optarg);
      return false;
    }
    *out = static_cast<int>(*v);
    return true;
  };
  int one = 1;
  while (true) {
    const int c = getopt_long(argc, argv, "t:g:b:e:i:f:n:m:w:N:p:c:o:d:r:z:y:T:G:C:a:M:R:h",
                              longopts, nullptr);
    if (c == -1) break;
    switch (c) {
      case 't':
        if (!intArg("nthreads", 1, 1, &one)) return 1;
        break;
      case 'g': {
        const auto v = parseInt(optarg);
        if (!v || *v != 1) {
          std::fprintf(stderr,
                       "%s: -g %s: each process drives one GPU here (its local rank modulo the "
                       "GPU count); run one process per GPU (e.g. mpirun -np <GPUs>) with -g 1\n",
                       prog, optarg);
          return 1;
        }
        break;
      }
      case 'b':
      case 'e': {
        const auto v = parseSize(optarg);
        if (!v) return bad(c == 'b' ? "minbytes" : "maxbytes", optarg);
        (c == 'b' ? o->minBytes : o->maxBytes) = *v;
        break;
      }
      case 'i': {
        const auto v = parseSize(optarg);
        if (!v || *v == 0) return bad("stepbytes", optarg);
        o->stepBytes = *v;
        break;
      }
      case 'f': {
        const auto v = parseInt(optarg);
        if (!v || *v < 1) return bad("stepfactor", optarg);
        o->stepFactor = static_cast<size_t>(*v);
        break;
      }
      case 'n':
        if (!intArg("iters", 1, 1 << 30, &o->iters)) return 1;
        break;
      case 'm':
        if (!intArg("agg_iters", 1, 1 << 20, &o->aggIters)) return 1;
        break;
      case 'w':
        if (!intArg("warmup_iters", 0, 1 << 30, &o->warmupIters)) return 1;
        break;
      case 'N':
        if (!intArg("run_cycles", 0, 1 << 30, &o->cycles)) return 1;
        break;
      case 'p':
        if (!intArg("parallel_init", 0, 1, &o->parallelInit)) return 1;
        break;
      case 'c':
        if (!intArg("check", 0, 1 << 20, &o->check)) return 1;
        break;
      case 'o': {
        const std::string_view s = optarg;
        if (s == "all") {
          o->op = -1;
        } else if (s == "premulsum") {
          o->op = kPreMulSum;
        } else {
          const auto it = std::find(std::begin(kOpNames), std::end(kOpNames), s);
          if (it == std::end(kOpNames)) return bad("op", optarg);
          o->op = static_cast<int>(it - std::begin(kOpNames));
        }
        break;
      }
      case 'd': {
        const std::string_view s = optarg;
        if (s == "all") {
          o->type = -1;
          break;
        }
        const auto it = std::find_if(std::begin(kTypes), std::end(kTypes),
                                     [&](const TypeInfo& t) { return s == t.name; });
        if (it == std::end(kTypes)) return bad("datatype", optarg);
        o->type = it->type;
        break;
      }
      case 'r':
        if (!intArg("root", -1, 1 << 30, &o->root)) return 1;
        break;
      case 'z':
        if (!intArg("blocking", 0, 3, &o->blocking)) return 1;
        break;
      case 'G':
        if (!intArg("cudagraph", 0, 1 << 20, &o->graph)) return 1;
        break;
      case 'R':
        if (!intArg("local_register", 0, 2, &o->registration)) return 1;
        if (o->registration == 1)
          return bad("local_register (0 or 2; 1, local registration, has no fast path here)",
                     optarg);
        break;
      case 'a':
        if (!intArg("average", 0, 3, &o->average)) return 1;
        break;
      case 'M': {
        int v = 0;
        if (!intArg("mpi", 0, 1, &v)) return 1;
        o->mpi = v != 0;
        break;
      }
      case 'y':
      case 'T':
      case 'C':
        break;  // nccl-tests' stream_null, timeout, report_cputime: no meaning here
      case kMemOption: {
        const std::string_view m = optarg;
        if (m != "host" && m != "cuda") return bad("mem (host or cuda)", optarg);
        o->mem = m == "host" ? Mem::kHost : Mem::kCuda;
        break;
      }
      case 'h':
        usage(prog);
        return 0;
      default:
        usage(prog);
        return 1;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
    return 1;
  }
  if (o->minBytes > o->maxBytes) {
    std::fprintf(stderr, "invalid sizes for 'minbytes' and 'maxbytes': %zu > %zu\n", o->minBytes,
                 o->maxBytes);
    return 1;
  }
  return std::nullopt;
}

}  // namespace tandem::perf
