// Shared driver of Tandem's benchmark tools; see common.h and README.md.
#include "common.h"

#include <getopt.h>
#include <libgen.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nccl_peer.h"  // without CUDA too: the NCCL peer is then always null
#if TANDEM_HAVE_CUDA
#include "device.h"
#endif

namespace tandem::perf {
namespace {

static_assert(std::endian::native == std::endian::little, "element codecs assume little endian");

// ---------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------

enum class Kind { kSigned, kUnsigned, kFloat };

struct TypeInfo {
  tdmDataType_t type;
  const char* name;
  size_t size;
  Kind kind;
  int ebits;        // minifloat exponent bits; 0 for native float/double and integers
  int mbits;        // minifloat mantissa bits
  bool finiteOnly;  // OCP e4m3 ("fn"): no infinities, one NaN pattern per sign
  double maxExact;  // every integer in [-maxExact, maxExact] is representable
  double unitRoundoff;
};

// Same order and names as nccl-tests' test_types / test_typenames.
constexpr TypeInfo kTypes[] = {
    {tdmInt8, "int8", 1, Kind::kSigned, 0, 0, false, 0, 0},
    {tdmUint8, "uint8", 1, Kind::kUnsigned, 0, 0, false, 0, 0},
    {tdmInt32, "int32", 4, Kind::kSigned, 0, 0, false, 0, 0},
    {tdmUint32, "uint32", 4, Kind::kUnsigned, 0, 0, false, 0, 0},
    {tdmInt64, "int64", 8, Kind::kSigned, 0, 0, false, 0, 0},
    {tdmUint64, "uint64", 8, Kind::kUnsigned, 0, 0, false, 0, 0},
    {tdmHalf, "half", 2, Kind::kFloat, 5, 10, false, 2048.0, 0x1p-11},
    {tdmFloat, "float", 4, Kind::kFloat, 0, 0, false, 0x1p24, 0x1p-24},
    {tdmDouble, "double", 8, Kind::kFloat, 0, 0, false, 0x1p53, 0x1p-53},
    {tdmBfloat16, "bfloat16", 2, Kind::kFloat, 8, 7, false, 256.0, 0x1p-8},
    {tdmFloat8e4m3, "f8e4m3", 1, Kind::kFloat, 4, 3, true, 16.0, 0x1p-4},
    {tdmFloat8e5m2, "f8e5m2", 1, Kind::kFloat, 5, 2, false, 8.0, 0x1p-3},
};
static_assert(std::size(kTypes) == tdmNumTypes);

const TypeInfo& typeInfo(int type) { return kTypes[type]; }

// Ops 0..4 are tdmSum..tdmAvg; kPreMulSum stands for an op made per call by
// tdmRedOpCreatePreMulSum (as nccl-tests does with ncclNumOps).
constexpr int kPreMulSum = tdmNumOps;
constexpr int kNumOps = kPreMulSum + 1;
// nccl-tests' test_opnames; "mulsum" keeps the redop column 6 wide.
constexpr const char* kOpNames[kNumOps] = {"sum", "prod", "max", "min", "avg", "mulsum"};

uint64_t widthMask(size_t size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

uint64_t loadRaw(const std::byte* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);
  return v;
}

void storeRaw(std::byte* p, size_t size, uint64_t v) { std::memcpy(p, &v, size); }

int64_t signExtend(uint64_t raw, size_t size) {
  if (size >= 8) return static_cast<int64_t>(raw);
  const unsigned shift = 64 - 8 * static_cast<unsigned>(size);
  return static_cast<int64_t>(raw << shift) >> shift;
}

// Encodes v in a binary floating-point format of ebits/mbits, rounding to
// nearest even. finiteOnly: the OCP e4m3 layout (no infinities; overflow
// gives NaN).
uint64_t encodeMinifloat(double v, int ebits, int mbits, bool finiteOnly) {
  const uint64_t sign = std::signbit(v) ? uint64_t{1} << (ebits + mbits) : 0;
  const uint64_t expAll = (uint64_t{1} << ebits) - 1;
  const uint64_t manAll = (uint64_t{1} << mbits) - 1;
  const uint64_t nan =
      finiteOnly ? (expAll << mbits) | manAll : (expAll << mbits) | (manAll + 1) / 2;
  const uint64_t inf = finiteOnly ? nan : expAll << mbits;
  if (std::isnan(v)) return sign | nan;
  const double a = std::fabs(v);
  if (std::isinf(a)) return sign | inf;
  if (a == 0) return sign;
  const int bias = (1 << (ebits - 1)) - 1;
  const int maxExp = (finiteOnly ? static_cast<int>(expAll) : static_cast<int>(expAll) - 1) - bias;
  int e = 0;
  std::frexp(a, &e);
  int exp = std::max(e - 1, 1 - bias);                    // a in [2^exp, 2^(exp+1)), or subnormal
  double q = std::nearbyint(std::ldexp(a, mbits - exp));  // significand in units of 2^(exp-mbits)
  if (q >= std::ldexp(1.0, mbits + 1)) {
    q /= 2;
    ++exp;
  }
  const auto qi = static_cast<uint64_t>(q);
  if (exp > maxExp || (finiteOnly && exp == maxExp && (qi & manAll) == manAll)) return sign | inf;
  if (qi <= manAll) return sign | qi;  // subnormal
  return sign | (static_cast<uint64_t>(exp + bias) << mbits) | (qi & manAll);
}

double decodeMinifloat(uint64_t raw, int ebits, int mbits, bool finiteOnly) {
  const uint64_t expAll = (uint64_t{1} << ebits) - 1;
  const uint64_t manAll = (uint64_t{1} << mbits) - 1;
  const bool negative = (raw >> (ebits + mbits)) & 1;
  const uint64_t exp = (raw >> mbits) & expAll;
  const uint64_t man = raw & manAll;
  const int bias = (1 << (ebits - 1)) - 1;
  double v;
  if (finiteOnly && exp == expAll && man == manAll) {
    v = std::nan("");
  } else if (!finiteOnly && exp == expAll) {
    v = man ? std::nan("") : HUGE_VAL;
  } else if (exp == 0) {
    v = std::ldexp(static_cast<double>(man), 1 - bias - mbits);
  } else {
    v = std::ldexp(static_cast<double>(man + manAll + 1), static_cast<int>(exp) - bias - mbits);
  }
  return negative ? -v : v;
}

uint64_t encodeFloat(const TypeInfo& t, double v) {
  if (t.type == tdmFloat) return std::bit_cast<uint32_t>(static_cast<float>(v));
  if (t.type == tdmDouble) return std::bit_cast<uint64_t>(v);
  return encodeMinifloat(v, t.ebits, t.mbits, t.finiteOnly);
}

double decodeFloat(const TypeInfo& t, uint64_t raw) {
  if (t.type == tdmFloat) return std::bit_cast<float>(static_cast<uint32_t>(raw));
  if (t.type == tdmDouble) return std::bit_cast<double>(raw);
  return decodeMinifloat(raw, t.ebits, t.mbits, t.finiteOnly);
}

// Raw encoding of a small non-negative integer in any type.
uint64_t encodeSmall(const TypeInfo& t, int v) {
  return t.kind == Kind::kFloat ? encodeFloat(t, v) : static_cast<uint64_t>(v);
}

// ---------------------------------------------------------------------------
// Input values and references
// ---------------------------------------------------------------------------

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum class Pattern { kCopy, kSum, kAvg, kPreMul, kProd, kMinMax };

Pattern patternFor(bool hasOp, int op) {
  if (!hasOp) return Pattern::kCopy;
  switch (op) {
    case tdmSum:
      return Pattern::kSum;
    case tdmProd:
      return Pattern::kProd;
    case tdmMax:
    case tdmMin:
      return Pattern::kMinMax;
    case tdmAvg:
      return Pattern::kAvg;
    default:
      return Pattern::kPreMul;
  }
}

// The premulsum scalar of `rank`: integers 1..4, floats 0.5..2 (exact in
// every type).
double preMulScalar(const TypeInfo& t, int rank) {
  const int k = rank % 4 + 1;
  return t.kind == Kind::kFloat ? 0.5 * k : k;
}

// Generates every rank's inputs from (rank, index, seed) and checks outputs
// against references computed on the CPU. Integer references use the type's
// wraparound arithmetic and must match exactly. Float inputs are small
// integers exactly representable in the type, chosen so that max/min/prod and
// (where the rank count allows) sums are exact in any order; otherwise the
// tolerance is the error bound of the summation in the type's precision.
class DataModel {
 public:
  DataModel(const TypeInfo& t, bool hasOp, int op, int nranks, uint64_t seed)
      : t_(t), op_(op), pattern_(patternFor(hasOp, op)), nranks_(nranks), seed_(seed) {
    mask_ = widthMask(t.size);
    if (t.kind == Kind::kFloat) {
      const double n = nranks;
      if (pattern_ == Pattern::kCopy || pattern_ == Pattern::kMinMax) {
        range_ = static_cast<int64_t>(std::min(t.maxExact, 0x1p20));
      } else if (pattern_ == Pattern::kPreMul) {
        // terms x*s are multiples of 0.5 up to 2|x|
        range_ = std::clamp<int64_t>(static_cast<int64_t>(t.maxExact / (4 * n)), 1, 8);
        exactSum_ = 4.0 * static_cast<double>(range_) * n <= t.maxExact;
      } else {
        range_ = std::clamp<int64_t>(static_cast<int64_t>(t.maxExact / n), 1, 8);
        exactSum_ = static_cast<double>(range_) * n <= t.maxExact;
      }
    }
  }

  // Raw bits of element `i` of `rank`'s input.
  uint64_t input(int rank, size_t i) const {
    if (t_.kind == Kind::kFloat) return encodeFloat(t_, floatValue(rank, i));
    return intValue(rank, i);
  }

  // Fills `count` elements of `rank`'s input at `p`.
  void fill(std::byte* p, int rank, size_t count) const {
    for (size_t i = 0; i < count; ++i) storeRaw(p + i * t_.size, t_.size, input(rank, i));
  }

  bool matches(const std::byte* out, Source src) const {
    const uint64_t got = loadRaw(out, t_.size);
    if (src.rank != kAllRanks) return got == input(src.rank, src.index);
    if (t_.kind != Kind::kFloat) return got == intReduce(src.index);
    double ref = 0, tol = 0;
    floatReduce(src.index, &ref, &tol);
    const double v = decodeFloat(t_, got);
    if (std::isnan(v)) return false;
    return tol == 0 ? v == ref : std::fabs(v - ref) <= tol;
  }

 private:
  uint64_t hash(int rank, size_t i) const {
    return mix64(mix64(seed_ ^ (static_cast<uint64_t>(rank + 1) << 40)) ^ i);
  }

  double floatValue(int rank, size_t i) const {
    const uint64_t h = hash(rank, i);
    if (pattern_ == Pattern::kProd) {
      // At most two factors differ from 1 per element: |product| <= 6.
      const int a = static_cast<int>(i % static_cast<size_t>(nranks_));
      const int b = static_cast<int>((i + 1) % static_cast<size_t>(nranks_));
      if (rank == a) return ((h >> 32) & 1 ? -1.0 : 1.0) * static_cast<double>(1 + h % 3);
      if (rank == b) return static_cast<double>(1 + h % 2);
      return 1.0;
    }
    const uint64_t span = 2 * static_cast<uint64_t>(range_) + 1;
    return static_cast<double>(static_cast<int64_t>(h % span) - range_);
  }

  uint64_t intValue(int rank, size_t i) const {
    const uint64_t h = hash(rank, i);
    if (pattern_ == Pattern::kAvg) return h % 9;  // the sum does not wrap
    return h & mask_;
  }

  uint64_t intReduce(size_t i) const {
    const bool isSigned = t_.kind == Kind::kSigned;
    uint64_t acc = intValue(0, i);
    if (pattern_ == Pattern::kPreMul) acc *= static_cast<uint64_t>(preMulScalar(t_, 0));
    for (int r = 1; r < nranks_; ++r) {
      const uint64_t x = intValue(r, i);
      switch (op_) {
        case tdmSum:
        case tdmAvg:
          acc += x;
          break;
        case tdmProd:
          acc *= x;
          break;
        case tdmMax:
        case tdmMin: {
          const bool greater =
              isSigned ? signExtend(x, t_.size) > signExtend(acc, t_.size) : x > acc;
          if (greater == (op_ == tdmMax)) acc = x;
          break;
        }
        default:
          acc += x * static_cast<uint64_t>(preMulScalar(t_, r));
          break;
      }
    }
    acc &= mask_;
    if (op_ == tdmAvg) {
      if (isSigned) {
        acc = static_cast<uint64_t>(signExtend(acc, t_.size) / nranks_);
      } else {
        acc /= static_cast<uint64_t>(nranks_);
      }
    }
    return acc & mask_;
  }

  void floatReduce(size_t i, double* ref, double* tol) const {
    const double n = nranks_;
    const double u = t_.unitRoundoff;
    double acc = 0, absSum = 0;
    switch (pattern_) {
      case Pattern::kProd:
        acc = 1;
        for (int r = 0; r < nranks_; ++r) acc *= floatValue(r, i);
        *ref = acc;
        *tol = 0;
        return;
      case Pattern::kMinMax:
        acc = floatValue(0, i);
        for (int r = 1; r < nranks_; ++r) {
          const double x = floatValue(r, i);
          acc = op_ == tdmMax ? std::max(acc, x) : std::min(acc, x);
        }
        *ref = acc;
        *tol = 0;
        return;
      case Pattern::kPreMul:
        for (int r = 0; r < nranks_; ++r) {
          const double term = floatValue(r, i) * preMulScalar(t_, r);
          acc += term;
          absSum += std::fabs(term);
        }
        *ref = acc;
        *tol = exactSum_ ? 0 : (n + 2) * u * absSum;
        return;
      default:  // sum, avg
        for (int r = 0; r < nranks_; ++r) {
          const double x = floatValue(r, i);
          acc += x;
          absSum += std::fabs(x);
        }
        if (pattern_ == Pattern::kAvg) {
          // premultiplied by a rounded 1/n, or summed then divided
          *ref = acc / n;
          *tol = (exactSum_ ? 3 : n + 3) * u * absSum / n;
        } else {
          *ref = acc;
          *tol = exactSum_ ? 0 : (n + 1) * u * absSum;
        }
        return;
    }
  }

  const TypeInfo& t_;
  int op_;
  Pattern pattern_;
  int nranks_;
  uint64_t seed_;
  uint64_t mask_ = 0;
  int64_t range_ = 0;
  bool exactSum_ = false;
};

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

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
  return static_cast<size_t>(v * units);
}

std::optional<long> parseInt(const char* s) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 0);
  if (end == s || *end != '\0') return std::nullopt;
  return v;
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

// Returns the exit status when the program must stop (help, bad arguments).
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

// ---------------------------------------------------------------------------
// Errors, communicator, buffers, MPI
// ---------------------------------------------------------------------------

class PerfError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void checkTdm(tdmResult_t r, tdmComm_t comm, const char* what, const char* file, int line) {
  if (r == tdmSuccess) return;
  char msg[1024];
  const char* last = tdmGetLastError(comm);
  std::snprintf(msg, sizeof msg, "Tandem failure %s:%d %s: '%s' (%s)", file, line, what,
                tdmGetErrorString(r), last && *last ? last : "no detail");
  throw PerfError(msg);
}

#define TDMCHECK(comm, call) checkTdm((call), (comm), #call, __FILE__, __LINE__)

// A call to the library under test or to the peer, reported with its name.
void checkLib(const Lib& lib, tdmResult_t r, const char* what, const char* file, int line) {
  if (r == tdmSuccess) return;
  char msg[1024];
  std::snprintf(msg, sizeof msg, "%s failure %s:%d %s: %s", lib.name(), file, line, what,
                lib.describe(r).c_str());
  throw PerfError(msg);
}

#define LIBCHECK(lib, call) checkLib((lib), (call), #call, __FILE__, __LINE__)

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

HostBuffer allocHost(size_t bytes) {
  constexpr size_t kAlign = 4096;
  const size_t rounded = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlign, rounded));
  if (!p) throw PerfError("out of host memory allocating " + std::to_string(rounded) + " bytes");
  return HostBuffer(p);
}

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

#if TANDEM_PERF_HAVE_MPI
bool launchedByMpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(v)) return true;
  }
  return false;
}

class MpiSession {
 public:
  explicit MpiSession(bool want) {
    if (!want) return;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      MPI_Init(nullptr, nullptr);
      owned_ = true;
    }
    active_ = true;
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    int finalized = 0;
    if (owned_ && (MPI_Finalized(&finalized), !finalized)) MPI_Finalize();
  }
  bool active() const { return active_; }

 private:
  bool active_ = false;
  bool owned_ = false;
};

// MPI's type for reductions; false for types MPI lacks.
bool mpiTypeOf(tdmDataType_t t, MPI_Datatype* out) {
  switch (t) {
    case tdmInt8:
      *out = MPI_INT8_T;
      return true;
    case tdmUint8:
      *out = MPI_UINT8_T;
      return true;
    case tdmInt32:
      *out = MPI_INT32_T;
      return true;
    case tdmUint32:
      *out = MPI_UINT32_T;
      return true;
    case tdmInt64:
      *out = MPI_INT64_T;
      return true;
    case tdmUint64:
      *out = MPI_UINT64_T;
      return true;
    case tdmFloat:
      *out = MPI_FLOAT;
      return true;
    case tdmDouble:
      *out = MPI_DOUBLE;
      return true;
    default:
      return false;
  }
}

bool mpiOpOf(int op, MPI_Op* out) {
  switch (op) {
    case tdmSum:
      *out = MPI_SUM;
      return true;
    case tdmProd:
      *out = MPI_PROD;
      return true;
    case tdmMax:
      *out = MPI_MAX;
      return true;
    case tdmMin:
      *out = MPI_MIN;
      return true;
    default:
      return false;
  }
}

void checkMpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw PerfError(std::string("MPI failure in ") + what + ": " + std::string(text, len));
}
#endif

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

// ---------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------

// One sweep's fixed parameters, and one size's counts.
struct Shape {
  const TypeInfo* type = nullptr;
  int op = tdmSum;  // index into kOpNames
  int root = 0;     // call root (0 for rootless collectives)
  int printRoot = -1;
  Counts counts;
  bool peerOk = false;  // the peer (MPI or NCCL) runs this type/op
};

// Device timing reports the median of this many batches of -n iterations.
constexpr int kTimedBatches = 5;

[[maybe_unused]] double median(std::vector<double> v) {  // device timing only
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

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
        const PeerLib* nccl)
      : test_(test), opt_(opt), comm_(comm), tandem_(comm), mem_(mem), mpi_(mpi), nccl_(nccl) {}

  // Returns the exit status.
  int run(const char* prog);

 private:
  bool main() const { return rank_ == 0; }
  // "MPI", "NCCL" or null.
  const char* peerName() const { return mpi_ ? "MPI" : nccl_ ? nccl_->name() : nullptr; }

  void barrier() {
    TDMCHECK(comm_, tdmAllReduce(&barrierIn_, &barrierOut_, 1, tdmInt32, tdmSum, comm_, nullptr));
  }

  // The time reported per -a (nccl-tests' Allreduce(args, &deltaSec, average)).
  double reduceTime(double sec) {
    if (opt_.average == 0) return sec;
    double out = 0;
    const tdmRedOp_t op = opt_.average == 1 ? tdmSum : opt_.average == 2 ? tdmMin : tdmMax;
    TDMCHECK(comm_, tdmAllReduce(&sec, &out, 1, tdmDouble, op, comm_, nullptr));
    return opt_.average == 1 ? out / nranks_ : out;
  }

  int64_t sumAll(int64_t v) {
    int64_t out = 0;
    TDMCHECK(comm_, tdmAllReduce(&v, &out, 1, tdmInt64, tdmSum, comm_, nullptr));
    return out;
  }

  void setup(Shape* s, size_t bytes) const {
    s->counts = test_.counts(bytes / s->type->size, nranks_);
  }

  size_t totalBytes(const Shape& s) const {
    return std::max(s.counts.send, s.counts.recv) * s.type->size;
  }

  // nccl-tests rotates through the buffers across iterations to avoid cache
  // effects: iteration `iter` uses offset total * (iter % (maxBytes / total)).
  Call callFor(const Lib& lib, const Shape& s, bool inPlace, size_t iter) const {
    const size_t total = totalBytes(s);
    const size_t steps = total ? std::max<size_t>(1, opt_.maxBytes / total) : 1;
    const size_t shift = total * (iter % steps);
    const size_t ts = s.type->size;
    Call c;
    std::byte* recvBase = recv_ + shift;
    if (inPlace) {
      c.send = recvBase + static_cast<size_t>(rank_) * s.counts.sendInplaceOffset * ts;
      c.recv = recvBase + static_cast<size_t>(rank_) * s.counts.recvInplaceOffset * ts;
    } else {
      c.send = send_ + shift;
      c.recv = recvBase;
    }
    c.count = s.counts.param;
    c.type = s.type->type;
    c.elemBytes = ts;
    c.root = s.root;
    c.rank = rank_;
    c.nranks = nranks_;
    c.inPlace = inPlace;
    c.lib = &lib;
    c.stream = mem_.stream;
    c.device = mem_.device;
    return c;
  }

  void issue(const Lib& lib, const Shape& s, bool inPlace, size_t iter) {
    Call c = callFor(lib, s, inPlace, iter);
    ScopedOp op(s.op, *s.type, rank_, lib);
    c.op = op.get();
    LIBCHECK(lib, test_.run(c));
    op.destroy();
  }

  // Host memory: times opt_.iters iterations of opt_.aggIters calls, which
  // return when complete; returns seconds per call.
  double timeHost(const Lib& lib, const Shape& s, bool inPlace) {
    issue(lib, s, inPlace, 0);  // sync
    barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int iter = 0; iter < opt_.iters; ++iter) {
      if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupStart());
      for (int a = 0; a < opt_.aggIters; ++a) {
        issue(lib, s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
      }
      if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupEnd());
      if (opt_.blocking) barrier();
    }
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    return reduceTime(dt.count() / (static_cast<double>(opt_.iters) * opt_.aggIters));
  }

#if TANDEM_HAVE_CUDA
  void sync() const { CUDACHECK(cudaStreamSynchronize(mem_.stream)); }

  // -z: wait for the stream, then for every rank.
  void blockingPoint() {
    sync();
    barrier();
  }

  // Enqueues opt_.iters iterations of opt_.aggIters calls on the stream.
  void enqueueIters(const Lib& lib, const Shape& s, bool inPlace, bool blocking) {
    for (int iter = 0; iter < opt_.iters; ++iter) {
      if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupStart());
      for (int a = 0; a < opt_.aggIters; ++a) {
        issue(lib, s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
      }
      if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupEnd());
      if (blocking) blockingPoint();
    }
  }

  // CUDA memory: one untimed call, then kTimedBatches batches timed by events
  // on the stream, each opt_.iters iterations (with -G, opt_.graph launches
  // of one graph that captured them); returns the median batch's seconds per
  // call, combined over ranks per -a.
  double timeDevice(const Lib& lib, const Shape& s, bool inPlace) {
    issue(lib, s, inPlace, 0);
    sync();
    barrier();
    std::unique_ptr<cuda::GraphExec> graph;
    if (opt_.graph > 0) {
      cuda::Capture capture(mem_.stream);
      enqueueIters(lib, s, inPlace, false);  // nothing can wait inside a capture
      graph = capture.finish();
    }
    const double calls = static_cast<double>(opt_.iters) * opt_.aggIters * (graph ? opt_.graph : 1);
    const cuda::Event start, stop;
    std::vector<double> batches;
    for (int b = 0; b < kTimedBatches; ++b) {
      barrier();
      start.record(mem_.stream);
      if (graph) {
        for (int l = 0; l < opt_.graph; ++l) {
          graph->launch(mem_.stream);
          if (opt_.blocking) blockingPoint();
        }
      } else {
        enqueueIters(lib, s, inPlace, opt_.blocking != 0);
      }
      stop.record(mem_.stream);
      stop.synchronize();
      batches.push_back(stop.secondsSince(start) / calls);
    }
    return reduceTime(median(std::move(batches)));
  }

  // Host-generated values copied in; random and never zero, so the timed
  // calls move and reduce real data.
  void fillRandom(const TypeInfo& t) {
    const size_t n = bufBytes_ / t.size;
    for (std::byte* dst : {send_, recv_}) {
      const uint64_t seed = mix64(++rep_ ^ (static_cast<uint64_t>(rank_) << 32));
      for (size_t i = 0; i < n; ++i) {
        const uint64_t h = mix64(seed ^ i);
        uint64_t raw = (h | 1) & widthMask(t.size);
        if (t.kind == Kind::kFloat) {
          // +-[1, 2) in eighths: exact or rounded, never zero, NaN or subnormal
          const double v = (h >> 63 ? -1.0 : 1.0) * (1.0 + static_cast<double>((h >> 8) % 8) / 8);
          raw = encodeFloat(t, v);
        }
        storeRaw(stage_.get() + i * t.size, t.size, raw);
      }
      CUDACHECK(
          cudaMemcpyAsync(dst, stage_.get(), n * t.size, cudaMemcpyHostToDevice, mem_.stream));
      sync();  // stage_ is reused for the next buffer
    }
  }

  // Device check: the inputs and outputs pass through stage_.
  int64_t checkDevice(const Lib& lib, const Shape& s, bool inPlace, const DataModel& model) {
    const size_t ts = s.type->size;
    const Call c = callFor(lib, s, inPlace, 0);
    // Every rank's earlier calls are complete before any buffer changes.
    sync();
    barrier();
    const size_t poisonBytes = inPlace ? totalBytes(s) : s.counts.recv * ts;
    CUDACHECK(cudaMemsetAsync(recv_, 0xAB, poisonBytes, mem_.stream));
    model.fill(stage_.get(), rank_, s.counts.send);
    CUDACHECK(cudaMemcpyAsync(const_cast<void*>(c.send), stage_.get(), s.counts.send * ts,
                              cudaMemcpyHostToDevice, mem_.stream));
    sync();
    issue(lib, s, inPlace, 0);
    const size_t n = test_.checkCount(rank_, nranks_, s.root, s.counts.param);
    if (n) {
      CUDACHECK(cudaMemcpyAsync(stage_.get(), c.recv, n * ts, cudaMemcpyDeviceToHost, mem_.stream));
    }
    sync();
    return countWrong(s, model, stage_.get());
  }
#endif

  int64_t countWrong(const Shape& s, const DataModel& model, const std::byte* out) const {
    const size_t ts = s.type->size;
    const size_t n = test_.checkCount(rank_, nranks_, s.root, s.counts.param);
    int64_t wrong = 0;
    for (size_t j = 0; j < n; ++j) {
      const Source src = test_.source(rank_, nranks_, s.root, s.counts.param, j);
      if (!model.matches(out + j * ts, src)) ++wrong;
    }
    return wrong;
  }

  // Runs the call once on fresh inputs and counts wrong output elements on
  // every rank.
  int64_t checkOnce(const Lib& lib, const Shape& s, bool inPlace) {
    const DataModel model(*s.type, test_.hasOp(), s.op, nranks_, ++rep_);
    int64_t wrong = 0;
    if (mem_.device) {
#if TANDEM_HAVE_CUDA
      wrong = checkDevice(lib, s, inPlace, model);
#endif
    } else {
      const size_t ts = s.type->size;
      const Call c = callFor(lib, s, inPlace, 0);
      // Poison the outputs, then write the inputs (which in place overlap them).
      const size_t poisonBytes = inPlace ? totalBytes(s) : s.counts.recv * ts;
      std::memset(recv_, 0xAB, poisonBytes);
      model.fill(static_cast<std::byte*>(const_cast<void*>(c.send)), rank_, s.counts.send);
      issue(lib, s, inPlace, 0);
      wrong = countWrong(s, model, static_cast<const std::byte*>(c.recv));
    }
    return sumAll(wrong);
  }

  struct Result {
    double sec = -1;     // -1: not run
    int64_t wrong = -1;  // -1: not reported
  };

  // Times `lib` on one size and placement, then checks it per -c.
  Result bench(const Lib& lib, const Shape& s, bool inPlace) {
    Result r;
    if (mem_.device) {
#if TANDEM_HAVE_CUDA
      r.sec = timeDevice(lib, s, inPlace);
#endif
    } else {
      r.sec = timeHost(lib, s, inPlace);
    }
    int64_t wrong = 0;
    for (int c = 0; c < opt_.check && wrong == 0; ++c) wrong = checkOnce(lib, s, inPlace);
    if (opt_.check > 0 && test_.reportErrors(inPlace)) r.wrong = wrong;
    return r;
  }

#if TANDEM_PERF_HAVE_MPI
  void issueMpi(const Shape& s, bool inPlace, size_t iter) {
    const Call c = callFor(tandem_, s, inPlace, iter);
    MpiCall m;
    m.send = c.send;
    m.recv = c.recv;
    m.count = c.count;
    m.root = c.root;
    m.rank = rank_;
    m.nranks = nranks_;
    m.inPlace = inPlace;
    m.elemBytes = s.type->size;
    if (test_.hasOp()) {
      mpiTypeOf(s.type->type, &m.type);
      mpiOpOf(s.op, &m.op);
      m.scale = 1;
    } else {
      m.type = MPI_BYTE;
      m.scale = s.type->size;
    }
    checkMpi(test_.runMpi(m), test_.name());
  }

  double timeMpi(const Shape& s, bool inPlace) {
    issueMpi(s, inPlace, 0);
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    for (int iter = 0; iter < opt_.iters; ++iter) {
      for (int a = 0; a < opt_.aggIters; ++a) {
        issueMpi(s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
      }
      if (opt_.blocking) MPI_Barrier(MPI_COMM_WORLD);
    }
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    return reduceTime(dt.count() / (static_cast<double>(opt_.iters) * opt_.aggIters));
  }
#endif

  // Fills both buffers with ones so timed runs never see NaNs or denormals.
  void fillOnes(const TypeInfo& t) {
    const uint64_t one = encodeSmall(t, 1);
    for (std::byte* b : {send_, recv_}) {
      for (size_t off = 0; off + t.size <= bufBytes_; off += t.size) storeRaw(b + off, t.size, one);
    }
  }

  void allocate();
  void printHeader(const char* prog);
  std::string deviceLine();
  void sweep(const TypeInfo& t, int op, int root);
  void printResult(const Shape& s, const Result& r);
  void printPeerResult(const Shape& s, const Result& peer, double tandemSec);

  const Test& test_;
  const Options& opt_;
  tdmComm_t comm_;
  TandemLib tandem_;
  Memory mem_;
  bool mpi_;
  const PeerLib* nccl_;
  int rank_ = 0;
  int nranks_ = 1;
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
  double bwSum_ = 0;
  int bwCount_ = 0;
  double peerBwSum_ = 0, ratioSum_ = 0;
  int peerBwCount_ = 0, ratioCount_ = 0;
};

// nccl-tests allocates maxBytes for both buffers; every size fits in them.
void Bench::allocate() {
  bufBytes_ = std::max<size_t>(opt_.maxBytes, 64);
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    devSend_ = cuda::allocDevice(bufBytes_);
    devRecv_ = cuda::allocDevice(bufBytes_);
    send_ = devSend_.get();
    recv_ = devRecv_.get();
    stage_ = allocHost(bufBytes_);
    if (opt_.registration == 2) {
      sendWindow_ = SymmetricWindow(comm_, send_, bufBytes_);
      recvWindow_ = SymmetricWindow(comm_, recv_, bufBytes_);
    }
#endif
  } else {
    hostSend_ = allocHost(bufBytes_);
    hostRecv_ = allocHost(bufBytes_);
    send_ = hostSend_.get();
    recv_ = hostRecv_.get();
  }
}

// This rank's line of "Using devices", as nccl-tests prints it.
std::string Bench::deviceLine() {
  char host[128] = {};
  gethostname(host, sizeof host - 1);
  char line[512];  // room for a 255-character device name; cut to kLine by the caller
  if (mem_.device) {
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

// `text` centered in `width` columns.
std::string centered(const std::string& text, size_t width) {
  if (text.size() >= width) return text;
  const size_t left = (width - text.size()) / 2;
  return std::string(left, ' ') + text + std::string(width - text.size() - left, ' ');
}

// The NCCL columns per placement: "  time  busbw  #wrong  t_ratio  bw_ratio".
constexpr size_t kNcclColumnsWidth = 2 + 7 + 2 + 6 + 2 + 6 + 2 + 7 + 2 + 8;

void Bench::printHeader(const char* prog) {
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
    if (mem_.device) {
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

void Bench::printResult(const Shape& s, const Result& r) {
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
void Bench::printPeerResult(const Shape& s, const Result& peer, double tandemSec) {
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

void Bench::sweep(const TypeInfo& t, int op, int root) {
  Shape s;
  s.type = &t;
  s.op = op;
  s.root = root < 0 ? 0 : root;
  s.printRoot = test_.hasRoot() ? root : -1;
  const char* opName = test_.hasOp() ? kOpNames[op] : "none";
#if TANDEM_PERF_HAVE_MPI
  if (mpi_) {
    MPI_Datatype dt;
    MPI_Op mop;
    s.peerOk = !test_.hasOp() || (mpiTypeOf(t.type, &dt) && mpiOpOf(op, &mop));
    if (!s.peerOk && main()) {
      std::printf("# MPI skipped for %s/%s: %s\n", t.name, kOpNames[op],
                  !mpiOpOf(op, &mop) ? "no MPI equivalent of the op" : "no MPI equivalent type");
    }
  }
#endif
  if (nccl_) {
    const char* why = nccl_->unsupported(t.type, test_.hasOp() && op == kPreMulSum);
    s.peerOk = why == nullptr;
    if (why && main()) std::printf("# NCCL skipped for %s/%s: %s\n", t.name, opName, why);
  }
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    fillRandom(t);
#endif
  } else {
    fillOnes(t);
  }
  barrier();

  // Warm-up at the largest then the smallest size (out-of-place).
  for (size_t bytes : {opt_.maxBytes, opt_.minBytes}) {
    setup(&s, bytes);
    for (int i = 0; i < opt_.warmupIters; ++i) issue(tandem_, s, false, static_cast<size_t>(i));
#if TANDEM_PERF_HAVE_MPI
    if (mpi_ && s.peerOk) {
      for (int i = 0; i < opt_.warmupIters; ++i) issueMpi(s, false, static_cast<size_t>(i));
    }
#endif
    if (nccl_ && s.peerOk) {
      for (int i = 0; i < opt_.warmupIters; ++i) issue(*nccl_, s, false, static_cast<size_t>(i));
    }
  }
#if TANDEM_HAVE_CUDA
  if (mem_.device) sync();
#endif

  for (size_t size = opt_.minBytes; size <= opt_.maxBytes;) {
    setup(&s, size);
    if (main()) {
      std::printf("%12zu  %12zu  %8s  %6s  %6d", totalBytes(s), s.counts.param, t.name, opName,
                  s.printRoot);
      std::fflush(stdout);
    }
    Result res[2];
    for (int inPlace = 0; inPlace < 2; ++inPlace) {
      res[inPlace] = bench(tandem_, s, inPlace != 0);
      if (res[inPlace].wrong > 0) ++errors_;
      printResult(s, res[inPlace]);
    }
#if TANDEM_PERF_HAVE_MPI
    if (mpi_) {
      for (int inPlace = 0; inPlace < 2; ++inPlace) {
        Result m;
        if (s.peerOk) m.sec = timeMpi(s, inPlace != 0);
        printPeerResult(s, m, res[inPlace].sec);
      }
    }
#endif
    if (nccl_) {
      for (int inPlace = 0; inPlace < 2; ++inPlace) {
        Result n;
        if (s.peerOk) n = bench(*nccl_, s, inPlace != 0);
        if (n.wrong > 0) ++peerErrors_;
        printPeerResult(s, n, res[inPlace].sec);
      }
    }
    if (main()) {
      std::printf("\n");
      std::fflush(stdout);
    }
    const size_t next = opt_.stepFactor > 1 ? size * opt_.stepFactor : size + opt_.stepBytes;
    if (next <= size) break;
    size = next;
  }
}

int Bench::run(const char* prog) {
  TDMCHECK(comm_, tdmCommUserRank(comm_, &rank_));
  TDMCHECK(comm_, tdmCommCount(comm_, &nranks_));
  printHeader(prog);
  if (test_.hasRoot() && opt_.root >= nranks_) {
    if (main()) std::printf("# invalid root %d for %d ranks\n", opt_.root, nranks_);
    return 1;
  }
  allocate();

  std::vector<int> types, ops, roots;
  for (int t = 0; t < tdmNumTypes; ++t) {
    if (opt_.type == -1 || opt_.type == t) types.push_back(t);
  }
  if (test_.hasOp()) {
    for (int o = 0; o < kNumOps; ++o) {
      if (opt_.op == -1 || opt_.op == o) ops.push_back(o);
    }
  } else {
    ops.push_back(tdmSum);
  }
  if (!test_.hasRoot()) {
    roots.push_back(-1);
  } else if (opt_.root == -1) {
    for (int r = 0; r < nranks_; ++r) roots.push_back(r);
  } else {
    roots.push_back(opt_.root);
  }

  // Like nccl-tests' hypercube: an unsupported rank count skips every sweep.
  const char* why = test_.unsupported(nranks_);
  if (why && main()) std::printf("# nRanks %d: %s, skipping\n", nranks_, why);
  for (int cycle = 0; !why && (opt_.cycles == 0 || cycle < opt_.cycles); ++cycle) {
    for (int t : types) {
      for (int o : ops) {
        for (int r : roots) sweep(typeInfo(t), o, r);
      }
    }
  }

  const double avgBw = bwCount_ ? bwSum_ / bwCount_ : 0;
  const char* minBwEnv = std::getenv("TANDEM_PERF_MIN_BW");
  if (!minBwEnv) minBwEnv = std::getenv("NCCL_TESTS_MIN_BW");
  const double minBw = minBwEnv ? std::atof(minBwEnv) : -1;
  const bool bwFailed = minBw >= 0 && avgBw < minBw * 0.9;
  if (main()) {
    std::printf("# Out of bounds values : %d %s\n", errors_, errors_ ? "FAILED" : "OK");
    std::printf("# Avg bus bandwidth    : %g %s\n", avgBw,
                minBw < 0 ? "" : (bwFailed ? "FAILED" : "OK"));
    if (mpi_) {
      std::printf("# Avg MPI bus bandwidth: %g\n", peerBwCount_ ? peerBwSum_ / peerBwCount_ : 0);
      std::printf("# Avg Tandem/MPI busbw : %g\n", ratioCount_ ? ratioSum_ / ratioCount_ : 0);
    }
    if (nccl_) {
      std::printf("# NCCL out of bounds values: %d %s\n", peerErrors_,
                  peerErrors_ ? "FAILED" : "OK");
      std::printf("# Avg NCCL bus bandwidth: %g\n", peerBwCount_ ? peerBwSum_ / peerBwCount_ : 0);
      std::printf("# Avg Tandem/NCCL busbw : %g\n", ratioCount_ ? ratioSum_ / ratioCount_ : 0);
    }
    std::printf("#\n# Collective test concluded: %s\n#\n", prog);
    std::fflush(stdout);
  }
  return errors_ || peerErrors_ || bwFailed ? 1 : 0;
}

// The local rank (launcher variables), which picks this process's GPU.
[[maybe_unused]] int localRank() {  // picks the CUDA device
  for (const char* v : {"TANDEM_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "LOCAL_RANK"}) {
    if (const char* s = std::getenv(v)) {
      if (const auto r = parseInt(s); r && *r >= 0) return static_cast<int>(*r);
    }
  }
  return 0;
}

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
  CUDACHECK(cudaSetDevice(localRank() % count));
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
