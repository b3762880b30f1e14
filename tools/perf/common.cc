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
  int cycles = 1;
  int parallelInit = 0;
  bool mpi = false;
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
      "\t[-g,--ngpus <gpus per thread>] (1 only)\n"
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
      "\t[-z,--blocking <0/1>]\n"
      "\t[-G,--cudagraph <num graph launches>] (no effect with host buffers)\n"
      "\t[-a,--average <0/1/2/3> report average iteration time <0=RANK0/1=AVG/2=MIN/3=MAX>]\n"
      "\t[-M,--mpi <0/1> also time MPI's equivalent on the same buffers]\n"
      "\t[--mem <host>] buffer memory\n"
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
    const int c =
        getopt_long(argc, argv, "t:g:b:e:i:f:n:m:w:N:p:c:o:d:r:z:y:T:G:C:a:M:h", longopts, nullptr);
    if (c == -1) break;
    switch (c) {
      case 't':
      case 'g':
        if (!intArg(c == 't' ? "nthreads" : "ngpus", 1, 1, &one)) return 1;
        break;
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
      case kMemOption:
        if (std::string_view(optarg) != "host") {
          std::fprintf(stderr, "%s: --mem %s is not supported yet (host only)\n", prog, optarg);
          return 1;
        }
        break;
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
  ScopedOp(int opIndex, const TypeInfo& t, int rank, tdmComm_t comm) : comm_(comm) {
    if (opIndex != kPreMulSum) {
      op_ = static_cast<tdmRedOp_t>(opIndex);
      return;
    }
    uint64_t scalar = t.kind == Kind::kFloat ? encodeFloat(t, preMulScalar(t, rank))
                                             : static_cast<uint64_t>(preMulScalar(t, rank));
    TDMCHECK(comm_, tdmRedOpCreatePreMulSum(&op_, &scalar, t.type, tdmScalarHostImmediate, comm_));
    owned_ = true;
  }
  ScopedOp(const ScopedOp&) = delete;
  ScopedOp& operator=(const ScopedOp&) = delete;
  ~ScopedOp() {
    if (owned_) tdmRedOpDestroy(op_, comm_);
  }
  tdmRedOp_t get() const { return op_; }
  void destroy() {
    if (std::exchange(owned_, false)) TDMCHECK(comm_, tdmRedOpDestroy(op_, comm_));
  }

 private:
  tdmComm_t comm_;
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
  bool mpiOk = false;  // MPI has an equivalent for this type/op
};

class Bench {
 public:
  Bench(const Test& test, const Options& opt, tdmComm_t comm, bool mpi)
      : test_(test), opt_(opt), comm_(comm), mpi_(mpi) {}

  // Returns the exit status.
  int run(const char* prog);

 private:
  bool main() const { return rank_ == 0; }

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
  Call callFor(const Shape& s, bool inPlace, size_t iter) const {
    const size_t total = totalBytes(s);
    const size_t steps = total ? std::max<size_t>(1, opt_.maxBytes / total) : 1;
    const size_t shift = total * (iter % steps);
    const size_t ts = s.type->size;
    Call c;
    std::byte* recvBase = recv_.get() + shift;
    if (inPlace) {
      c.send = recvBase + static_cast<size_t>(rank_) * s.counts.sendInplaceOffset * ts;
      c.recv = recvBase + static_cast<size_t>(rank_) * s.counts.recvInplaceOffset * ts;
    } else {
      c.send = send_.get() + shift;
      c.recv = recvBase;
    }
    c.count = s.counts.param;
    c.type = s.type->type;
    c.elemBytes = ts;
    c.root = s.root;
    c.rank = rank_;
    c.nranks = nranks_;
    c.inPlace = inPlace;
    c.comm = comm_;
    return c;
  }

  void issue(const Shape& s, bool inPlace, size_t iter) {
    Call c = callFor(s, inPlace, iter);
    ScopedOp op(s.op, *s.type, rank_, comm_);
    c.op = op.get();
    TDMCHECK(comm_, test_.run(c));
    op.destroy();
  }

  // Times opt_.iters iterations of opt_.aggIters calls; returns seconds per call.
  double timeTandem(const Shape& s, bool inPlace) {
    issue(s, inPlace, 0);  // sync
    barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int iter = 0; iter < opt_.iters; ++iter) {
      if (opt_.aggIters > 1) TDMCHECK(comm_, tdmGroupStart());
      for (int a = 0; a < opt_.aggIters; ++a) {
        issue(s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
      }
      if (opt_.aggIters > 1) TDMCHECK(comm_, tdmGroupEnd());
      if (opt_.blocking) barrier();
    }
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    return reduceTime(dt.count() / (static_cast<double>(opt_.iters) * opt_.aggIters));
  }

  // Runs the call once on fresh inputs and counts wrong output elements on
  // every rank.
  int64_t checkOnce(const Shape& s, bool inPlace) {
    const size_t ts = s.type->size;
    const DataModel model(*s.type, test_.hasOp(), s.op, nranks_, ++rep_);
    const Call c = callFor(s, inPlace, 0);
    // Poison the outputs, then write the inputs (which in place overlap them).
    const size_t poisonBytes = inPlace ? totalBytes(s) : s.counts.recv * ts;
    std::memset(recv_.get(), 0xAB, poisonBytes);
    model.fill(static_cast<std::byte*>(const_cast<void*>(c.send)), rank_, s.counts.send);
    issue(s, inPlace, 0);
    const auto* out = static_cast<const std::byte*>(c.recv);
    const size_t n = test_.checkCount(rank_, nranks_, s.root, s.counts.param);
    int64_t wrong = 0;
    for (size_t j = 0; j < n; ++j) {
      const Source src = test_.source(rank_, nranks_, s.root, s.counts.param, j);
      if (!model.matches(out + j * ts, src)) ++wrong;
    }
    return sumAll(wrong);
  }

  struct Result {
    double sec = 0;
    int64_t wrong = -1;  // -1: not reported
  };

  Result benchTandem(const Shape& s, bool inPlace) {
    Result r;
    r.sec = timeTandem(s, inPlace);
    int64_t wrong = 0;
    for (int c = 0; c < opt_.check && wrong == 0; ++c) wrong = checkOnce(s, inPlace);
    if (opt_.check > 0 && test_.reportErrors(inPlace)) {
      r.wrong = wrong;
      if (wrong) ++errors_;
    }
    return r;
  }

#if TANDEM_PERF_HAVE_MPI
  void issueMpi(const Shape& s, bool inPlace, size_t iter) {
    const Call c = callFor(s, inPlace, iter);
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
    for (std::byte* b : {send_.get(), recv_.get()}) {
      for (size_t off = 0; off + t.size <= bufBytes_; off += t.size) storeRaw(b + off, t.size, one);
    }
  }

  void printHeader(const char* prog);
  void sweep(const TypeInfo& t, int op, int root);
  void printResult(const Shape& s, const Result& r);
#if TANDEM_PERF_HAVE_MPI
  void printMpiResult(const Shape& s, double mpiSec, double tandemSec);
#endif

  const Test& test_;
  const Options& opt_;
  tdmComm_t comm_;
  bool mpi_;
  int rank_ = 0;
  int nranks_ = 1;
  HostBuffer send_, recv_;
  size_t bufBytes_ = 0;
  int32_t barrierIn_ = 0, barrierOut_ = 0;
  uint64_t rep_ = 0;
  int errors_ = 0;
  double bwSum_ = 0;
  int bwCount_ = 0;
  double mpiBwSum_ = 0, ratioSum_ = 0;
  int mpiBwCount_ = 0, ratioCount_ = 0;
};

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
    std::printf("# Buffers: host memory\n");
    if (opt_.graph) std::printf("# CUDA graphs (-G) have no effect with host buffers\n");
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
    std::printf("#\n# Using devices\n");
  }

  // Every rank's line, gathered in rank order to rank 0.
  constexpr size_t kLine = 256;
  char host[128] = {};
  gethostname(host, sizeof host - 1);
  int dev = -1;
  TDMCHECK(comm_, tdmCommCuDevice(comm_, &dev));
  std::vector<char> mine(kLine, '\0');
  std::snprintf(mine.data(), kLine, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [host] %s\n",
                rank_, 0, static_cast<int>(getpid()), host, dev, cpuModel().c_str());
  std::vector<char> all(kLine * static_cast<size_t>(nranks_));
  TDMCHECK(comm_, tdmAllGather(mine.data(), all.data(), kLine, tdmUint8, comm_, nullptr));
  if (main()) {
    for (int r = 0; r < nranks_; ++r) {
      all[kLine * static_cast<size_t>(r) + kLine - 1] = '\0';
      std::printf("%s", all.data() + kLine * static_cast<size_t>(r));
    }
    std::printf("#\n");
    std::printf(
        "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place"
        "          %s\n",
        "", "", "", "", "", mpi_ ? "     MPI out-of-place           MPI in-place      " : "");
    std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s", "size",
                "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time",
                "algbw", "busbw", "#wrong");
    if (mpi_) {
      std::printf("  %7s  %6s  %6s  %7s  %6s  %6s", "time", "busbw", "ratio", "time", "busbw",
                  "ratio");
    }
    std::printf("\n# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s", "(B)",
                "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
                "(GB/s)", "");
    if (mpi_) {
      std::printf("  %7s  %6s  %6s  %7s  %6s  %6s", "(us)", "(GB/s)", "", "(us)", "(GB/s)", "");
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

#if TANDEM_PERF_HAVE_MPI
void Bench::printMpiResult(const Shape& s, double mpiSec, double tandemSec) {
  if (mpiSec < 0) {
    if (main()) std::printf("  %7s  %6s  %6s", "-", "-", "-");
    return;
  }
  const double algBw =
      test_.algBytes(s.counts.param, s.type->size, nranks_) / 1.0e9 / std::max(mpiSec, 1e-12);
  const double busBw = algBw * test_.busFactor(nranks_);
  const double ratio = mpiSec / std::max(tandemSec, 1e-12);  // = Tandem busbw / MPI busbw
  mpiBwSum_ += busBw;
  ++mpiBwCount_;
  ratioSum_ += ratio;
  ++ratioCount_;
  if (main()) {
    std::printf("  %7s  %6.2f  %6.2f", timeString(mpiSec * 1e6).c_str(), busBw, ratio);
  }
}
#endif

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
    s.mpiOk = !test_.hasOp() || (mpiTypeOf(t.type, &dt) && mpiOpOf(op, &mop));
    if (!s.mpiOk && main()) {
      std::printf("# MPI skipped for %s/%s: %s\n", t.name, kOpNames[op],
                  !mpiOpOf(op, &mop) ? "no MPI equivalent of the op" : "no MPI equivalent type");
    }
  }
#endif
  fillOnes(t);
  barrier();

  // Warm-up at the largest then the smallest size (out-of-place).
  for (size_t bytes : {opt_.maxBytes, opt_.minBytes}) {
    setup(&s, bytes);
    for (int i = 0; i < opt_.warmupIters; ++i) issue(s, false, static_cast<size_t>(i));
#if TANDEM_PERF_HAVE_MPI
    if (s.mpiOk) {
      for (int i = 0; i < opt_.warmupIters; ++i) issueMpi(s, false, static_cast<size_t>(i));
    }
#endif
  }

  for (size_t size = opt_.minBytes; size <= opt_.maxBytes;) {
    setup(&s, size);
    if (main()) {
      std::printf("%12zu  %12zu  %8s  %6s  %6d", totalBytes(s), s.counts.param, t.name, opName,
                  s.printRoot);
      std::fflush(stdout);
    }
    Result res[2];
    for (int inPlace = 0; inPlace < 2; ++inPlace) {
      res[inPlace] = benchTandem(s, inPlace != 0);
      printResult(s, res[inPlace]);
    }
#if TANDEM_PERF_HAVE_MPI
    if (mpi_) {
      for (int inPlace = 0; inPlace < 2; ++inPlace) {
        const double sec = s.mpiOk ? timeMpi(s, inPlace != 0) : -1;
        printMpiResult(s, sec, res[inPlace].sec);
      }
    }
#endif
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

  // nccl-tests allocates maxBytes for both buffers; every size fits in them.
  bufBytes_ = std::max<size_t>(opt_.maxBytes, 64);
  send_ = allocHost(bufBytes_);
  recv_ = allocHost(bufBytes_);

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
      std::printf("# Avg MPI bus bandwidth: %g\n", mpiBwCount_ ? mpiBwSum_ / mpiBwCount_ : 0);
      std::printf("# Avg Tandem/MPI busbw : %g\n", ratioCount_ ? ratioSum_ / ratioCount_ : 0);
    }
    std::printf("#\n# Collective test concluded: %s\n#\n", prog);
    std::fflush(stdout);
  }
  return errors_ || bwFailed ? 1 : 0;
}

}  // namespace

int runPerf(int argc, char** argv, const Test& test) {
  setlinebuf(stdout);
  std::string progBuf = argc > 0 ? argv[0] : "perf";
  const std::string prog = basename(progBuf.data());

  Options opt;
  if (auto status = parseOptions(argc, argv, prog.c_str(), &opt)) return *status;

  bool mpi = false;
#if TANDEM_PERF_HAVE_MPI
  // MPI first: Tandem's mpirun path uses an initialized MPI.
  MpiSession session(opt.mpi || launchedByMpirun());
#else
  if (opt.mpi) {
    std::fprintf(stderr, "%s: built without MPI; -M 1 ignored\n", prog.c_str());
  }
#endif

  Comm comm;
  try {
    TDMCHECK(nullptr, tdmCommInitWorld(comm.out(), nullptr));
#if TANDEM_PERF_HAVE_MPI
    if (opt.mpi) {
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
    Bench bench(test, opt, comm.get(), mpi);
    const int status = bench.run(prog.c_str());
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
    if (session.active()) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    return 1;
  }
}

}  // namespace tandem::perf
