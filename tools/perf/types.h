// The element types and reduction ops of the benchmark tools: nccl-tests'
// names and order, and raw element access. Float encodings come from the test
// harness's codecs (tests/common), not from the library under test.
#ifndef TANDEM_TOOLS_PERF_TYPES_H_
#define TANDEM_TOOLS_PERF_TYPES_H_

#include <tandem/tandem.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "tests/common/types.h"

namespace tandem::perf {

static_assert(std::endian::native == std::endian::little, "element codecs assume little endian");

using Kind = tdm::test::Kind;

struct TypeInfo {
  tdmDataType_t type;
  const char* name;
  size_t size;
  Kind kind;
  double maxExact;  // every integer in [-maxExact, maxExact] is representable
  double unitRoundoff;
};

constexpr TypeInfo makeType(tdmDataType_t t, const char* name) {
  const auto& tr = tdm::test::traits(t);
  return {t, name, tr.size, tr.kind, tr.max_exact, tdm::test::unit_roundoff(t)};
}

// Same order and names as nccl-tests' test_types / test_typenames.
inline constexpr TypeInfo kTypes[] = {
    makeType(tdmInt8, "int8"),         makeType(tdmUint8, "uint8"),
    makeType(tdmInt32, "int32"),       makeType(tdmUint32, "uint32"),
    makeType(tdmInt64, "int64"),       makeType(tdmUint64, "uint64"),
    makeType(tdmHalf, "half"),         makeType(tdmFloat, "float"),
    makeType(tdmDouble, "double"),     makeType(tdmBfloat16, "bfloat16"),
    makeType(tdmFloat8e4m3, "f8e4m3"), makeType(tdmFloat8e5m2, "f8e5m2"),
};
static_assert(std::size(kTypes) == tdmNumTypes);

inline const TypeInfo& typeInfo(int type) { return kTypes[type]; }

// Ops 0..4 are tdmSum..tdmAvg; kPreMulSum stands for an op made per call by
// tdmRedOpCreatePreMulSum (as nccl-tests does with ncclNumOps).
constexpr int kPreMulSum = tdmNumOps;
constexpr int kNumOps = kPreMulSum + 1;
// nccl-tests' test_opnames; "mulsum" keeps the redop column 6 wide.
inline constexpr const char* kOpNames[kNumOps] = {"sum", "prod", "max", "min", "avg", "mulsum"};

inline uint64_t widthMask(size_t size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

inline uint64_t loadRaw(const std::byte* p, size_t size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size);
  return v;
}

inline void storeRaw(std::byte* p, size_t size, uint64_t v) { std::memcpy(p, &v, size); }

inline uint64_t encodeFloat(const TypeInfo& t, double v) { return tdm::test::encode(t.type, v); }

// Raw encoding of a small non-negative integer in any type.
inline uint64_t encodeSmall(const TypeInfo& t, int v) {
  return t.kind == Kind::kFloat ? encodeFloat(t, v) : static_cast<uint64_t>(v);
}

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_TYPES_H_
