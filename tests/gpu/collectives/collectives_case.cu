// What a case of collectives_gpu_test is: data types, the case description,
// every rank's inputs and the reference the received data must match (see
// collectives_harness.h).
#include "collectives_harness.h"

namespace collectives_gpu_test {

// ---- data types (the harness's codecs, tests/common) ----

// Names in gtest's parameter names, indexed by tdmDataType_t.
constexpr const char* kTypeNames[tdmNumTypes] = {"int8",    "uint8",    "int32",      "uint32",
                                                 "int64",   "uint64",   "float16",    "float32",
                                                 "float64", "bfloat16", "float8e4m3", "float8e5m2"};
const char* type_name(tdmDataType_t t) { return kTypeNames[t]; }

uint64_t poison_bits(tdmDataType_t t) { return truncate(t, 0xA5A5A5A5A5A5A5A5ULL); }

uint64_t load(const uint8_t* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);  // little-endian, like the GPU
  return v;
}
void store(uint8_t* p, uint64_t v, size_t size) { std::memcpy(p, &v, size); }

std::string show(tdmDataType_t t, uint64_t bits) {
  std::ostringstream s;
  if (is_float(t)) s.precision(9);
  s << decode(t, bits) << " (0x" << std::hex << truncate(t, bits) << ")";
  return s.str();
}

// ---- what a case is ----

const char* coll_name(Coll c) {
  static const char* names[] = {"AllReduce",     "Reduce",           "Broadcast",   "AllGather",
                                "ReduceScatter", "AlltoAll",         "Gather",      "Scatter",
                                "SendRecvRing",  "SendRecvAllPairs", "SendRecvSelf"};
  return names[static_cast<int>(c)];
}
void PrintTo(Coll c, std::ostream* os) { *os << coll_name(c); }

bool reduces(Coll c) {
  return c == Coll::kAllReduce || c == Coll::kReduce || c == Coll::kReduceScatter;
}
bool rooted(Coll c) {
  return c == Coll::kReduce || c == Coll::kBroadcast || c == Coll::kGather || c == Coll::kScatter;
}
bool p2p(Coll c) { return c == Coll::kRing || c == Coll::kAllPairs || c == Coll::kSelf; }

const char* op_name(int op) {
  static const char* names[] = {
      "sum", "prod", "max", "min", "avg", "premulsum(host scalar)", "premulsum(device scalar)"};
  return op >= 0 && op <= kPremulDevice ? names[op] : "-";
}
bool premul(int op) { return op == kPremulHost || op == kPremulDevice; }

const char* place_name(Place p) {
  return p == Place::kOut ? "out-of-place" : p == Place::kIn ? "in-place" : "in-place (tdmBcast)";
}

Ctx g_world;  // seeds drawn afresh by every test

uint64_t g_salt = 0;  // cases numbered alike on every rank: fresh data for each

Case make(Coll coll, tdmDataType_t t, int op, size_t count, Place place, int root, const Ctx* ctx) {
  Case c;
  c.ctx = ctx;
  c.coll = coll;
  c.type = t;
  c.op = reduces(coll) ? op : kNoOp;
  c.count = count;
  c.place = place;
  c.root = root;
  c.stream = g_stream;
  return c;
}

bool in_place(const Case& c) { return c.place != Place::kOut; }

std::string describe(const Case& c) {
  std::ostringstream s;
  s << coll_name(c.coll) << " " << type_name(c.type);
  if (reduces(c.coll)) s << " " << op_name(c.op);
  s << " count " << c.count << " " << place_name(c.place);
  if (rooted(c.coll)) s << " root " << c.root;
  if (c.shift) s << ", buffers shifted by " << c.shift << " element";
  if (c.null_unused) s << ", NULL for unused buffers";
  if (c.stream == nullptr) s << ", legacy stream";
  if (c.ctx != &g_world) s << ", split communicator";
  s << " (rank " << c.ctx->rank << " of " << c.ctx->n << "; seeds";
  for (uint64_t seed : c.ctx->seeds) s << " 0x" << std::hex << seed << std::dec;
  s << ", salt " << c.salt << ")";
  return s.str();
}

// ---- inputs and reference ----

// Float inputs of reductions: small integers whose sums over up to 8 ranks
// (the engine's limit) are exact in the type; products draw from powers of
// two, so they are exact too (tdm::test::reduction_value).

// Element j of the send buffer of rank r (of the case's communicator).
Elem input(const Case& c, int r, uint64_t j) {
  const uint64_t h = fmix64(c.ctx->seeds[r] ^ fmix64(c.salt * 0x9e3779b97f4a7c15ULL + 1) ^
                            fmix64(j + 0x632be59bd9b4e019ULL));
  if (reduces(c.coll) && is_float(c.type)) {
    const double v = tdm::test::reduction_value(c.type, c.op == kProd, h);
    return {encode(c.type, v), v};
  }
  // Integers (any bits: the reference is exact) and moved data (any bits,
  // NaN patterns included: moving must not interpret them).
  uint64_t bits = truncate(c.type, h);
  if (bits == poison_bits(c.type)) bits ^= 1;  // an unwritten element must never pass as data
  return {bits, 0.0};
}

// Premulsum scalar of rank r: exact multipliers, varying by rank and scalar_salt.
double float_scalar(const Case& c, int r) {
  static const double choices[] = {2, 0.5, -1, 1};
  return choices[(static_cast<uint64_t>(r) + c.scalar_salt) % 4];
}
uint64_t int_scalar(const Case& c, int r) {
  return truncate(c.type, static_cast<uint64_t>(r) * 2 + 3 + c.scalar_salt);
}
uint64_t scalar_bits(const Case& c, int r) {
  return is_float(c.type) ? encode(c.type, float_scalar(c, r)) : int_scalar(c, r);
}

bool matches(tdmDataType_t t, uint64_t got, const Want& w) {
  if (!w.approx) return truncate(t, got) == truncate(t, w.bits);
  // An unwritten element fails even where the tolerance would cover the
  // poison's value, unless the reference itself rounds to the poison.
  if (truncate(t, got) == poison_bits(t) && encode(t, w.value) != poison_bits(t)) return false;
  return std::fabs(decode(t, got) - w.value) <= w.tol;  // NaN fails
}

std::string show_want(tdmDataType_t t, const Want& w) {
  if (!w.approx) return show(t, w.bits);
  std::ostringstream s;
  s.precision(9);
  s << w.value << " +- " << w.tol;
  return s.str();
}

// Reduction over the ranks of element j of every rank's send buffer, as the
// library defines it: rank order, premulsum scales each rank's own input,
// avg divides the (wrapped, for integers) sum.
Want reduce_want(const Case& c, uint64_t j) {
  const int n = c.ctx->n;
  const tdmDataType_t t = c.type;
  const int op = premul(c.op) ? tdm::test::kPreMulSum : c.op;
  if (!is_float(t)) {
    return Want::exact(tdm::test::reduce_int(
        t, op, n, [&](int r) { return input(c, r, j).bits; },
        [&](int r) { return int_scalar(c, r); }));
  }
  // Premulsum: exact for the chosen scalars.
  const tdm::test::FloatReduction red = tdm::test::reduce_float(op, n, [&](int r) {
    const double x = input(c, r, j).value;
    return premul(c.op) ? x * float_scalar(c, r) : x;
  });
  // Sums and products of these inputs are exact in any order, even with
  // partial results rounded to the type, and max and min pick an input: no
  // tolerance. Avg divides an exact sum: rounded in float then in the type (or
  // exact, for NCCL's scaling of each input by 1/n, when n is a power of two).
  // Premulsum's partial sums may round: bounded by the magnitude summed.
  double tol = 0;
  if (op == kAvg) tol = 2 * unit_roundoff(t) * std::fabs(red.value);
  if (premul(c.op)) tol = (n + 1) * unit_roundoff(t) * red.magnitude;
  return Want::near(red.value, tol);
}

size_t ring_second(size_t k) { return k ? k / 2 + 1 : 0; }

Layout layout(const Case& c) {
  const size_t n = c.ctx->n, me = c.ctx->rank, k = c.count;
  switch (c.coll) {
    case Coll::kAllReduce:
    case Coll::kReduce:
    case Coll::kBroadcast:
    case Coll::kSelf:
      return {k, k, k, 0, 0};
    case Coll::kAllGather:
    case Coll::kGather:  // in place: sendbuff == recvbuff + rank * count
      return {k, n * k, n * k, me * k, 0};
    case Coll::kReduceScatter:
    case Coll::kScatter:  // in place: recvbuff == sendbuff + rank * count
      return {n * k, k, n * k, 0, me * k};
    case Coll::kAlltoAll:
    case Coll::kAllPairs:
      return {n * k, n * k, n * k, 0, 0};
    case Coll::kRing: {
      const size_t m = k + ring_second(k);
      return {m, m, m, 0, 0};
    }
  }
  return {};
}

// What element e of the receive buffer must hold; nullopt where the call must
// not write (buffers that only matter on the root).
std::optional<Want> recv_want(const Case& c, size_t e) {
  const int n = c.ctx->n, me = c.ctx->rank;
  const size_t k = c.count;
  const bool is_root = me == c.root;
  auto from = [&](int r, uint64_t j) { return Want::exact(input(c, r, j).bits); };
  switch (c.coll) {
    case Coll::kAllReduce:
      return reduce_want(c, e);
    case Coll::kReduce:
      if (!is_root) return std::nullopt;
      return reduce_want(c, e);
    case Coll::kBroadcast:
      return from(c.root, e);
    case Coll::kAllGather:
      return from(static_cast<int>(e / k), e % k);
    case Coll::kGather:
      if (!is_root) return std::nullopt;
      return from(static_cast<int>(e / k), e % k);
    case Coll::kReduceScatter:
      return reduce_want(c, me * k + e);
    case Coll::kScatter:
      return from(c.root, me * k + e);
    case Coll::kAlltoAll:
    case Coll::kAllPairs:
      return from(static_cast<int>(e / k), me * k + e % k);
    case Coll::kRing:
      return from((me + n - 1) % n, e);
    case Coll::kSelf:
      return from(me, e);
  }
  return std::nullopt;
}

}  // namespace collectives_gpu_test
