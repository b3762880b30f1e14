// The correctness check's inputs and references; see data.h.
#include "data.h"

#include <algorithm>
#include <cmath>

#include "tests/common/reference.h"
#include "tests/common/seeded_data.h"

namespace tandem::perf {

using tdm::test::mix64;

double preMulScalar(const TypeInfo& t, int rank) {
  const int k = rank % 4 + 1;
  return t.kind == Kind::kFloat ? 0.5 * k : k;
}

DataModel::DataModel(const TypeInfo& t, bool hasOp, int op, int nranks, uint64_t seed)
    : t_(t), op_(op), nranks_(nranks), seed_(seed) {
  pattern_ = !hasOp          ? Pattern::kCopy
             : op == tdmSum  ? Pattern::kSum
             : op == tdmProd ? Pattern::kProd
             : op == tdmMax  ? Pattern::kMinMax
             : op == tdmMin  ? Pattern::kMinMax
             : op == tdmAvg  ? Pattern::kAvg
                             : Pattern::kPreMul;
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

uint64_t DataModel::input(int rank, size_t i) const {
  if (t_.kind == Kind::kFloat) return encodeFloat(t_, floatValue(rank, i));
  return intValue(rank, i);
}

void DataModel::fill(std::byte* p, int rank, size_t count) const {
  for (size_t i = 0; i < count; ++i) storeRaw(p + i * t_.size, t_.size, input(rank, i));
}

bool DataModel::matches(const std::byte* out, Source src) const {
  const uint64_t got = loadRaw(out, t_.size);
  if (src.rank != kAllRanks) return got == input(src.rank, src.index);
  if (t_.kind != Kind::kFloat) return got == intReduce(src.index);
  double ref = 0, tol = 0;
  floatReduce(src.index, &ref, &tol);
  return tdm::test::near(t_.type, got, ref, tol);
}

uint64_t DataModel::hash(int rank, size_t i) const {
  return mix64(mix64(seed_ ^ (static_cast<uint64_t>(rank + 1) << 40)) ^ i);
}

double DataModel::floatValue(int rank, size_t i) const {
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

uint64_t DataModel::intValue(int rank, size_t i) const {
  const uint64_t h = hash(rank, i);
  if (pattern_ == Pattern::kAvg) return h % 9;  // the sum does not wrap
  return h & mask_;
}

uint64_t DataModel::intReduce(size_t i) const {
  return tdm::test::reduce_int(
      t_.type, op_, nranks_, [&](int r) { return intValue(r, i); },
      [&](int r) { return static_cast<uint64_t>(preMulScalar(t_, r)); });
}

void DataModel::floatReduce(size_t i, double* ref, double* tol) const {
  const double n = nranks_;
  const double u = t_.unitRoundoff;
  const tdm::test::FloatReduction red = tdm::test::reduce_float(op_, nranks_, [&](int r) {
    const double x = floatValue(r, i);
    return pattern_ == Pattern::kPreMul ? x * preMulScalar(t_, r) : x;
  });
  *ref = red.value;
  switch (pattern_) {
    case Pattern::kProd:
    case Pattern::kMinMax:
      *tol = 0;
      return;
    case Pattern::kPreMul:
      *tol = exactSum_ ? 0 : (n + 2) * u * red.magnitude;
      return;
    case Pattern::kAvg:
      // premultiplied by a rounded 1/n, or summed then divided
      *tol = (exactSum_ ? 3 : n + 3) * u * red.magnitude / n;
      return;
    default:
      *tol = exactSum_ ? 0 : (n + 1) * u * red.magnitude;
      return;
  }
}

void fillOnes(const TypeInfo& t, std::byte* p, size_t bytes) {
  const uint64_t one = encodeSmall(t, 1);
  for (size_t off = 0; off + t.size <= bytes; off += t.size) storeRaw(p + off, t.size, one);
}

void fillRandom(const TypeInfo& t, std::byte* p, size_t count, uint64_t seed) {
  for (size_t i = 0; i < count; ++i) {
    const uint64_t h = mix64(seed ^ i);
    uint64_t raw = (h | 1) & widthMask(t.size);
    if (t.kind == Kind::kFloat) {
      // +-[1, 2) in eighths: exact or rounded, never zero, NaN or subnormal
      const double v = (h >> 63 ? -1.0 : 1.0) * (1.0 + static_cast<double>((h >> 8) % 8) / 8);
      raw = encodeFloat(t, v);
    }
    storeRaw(p + i * t.size, t.size, raw);
  }
}

}  // namespace tandem::perf
