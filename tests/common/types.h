// Every tdmDataType_t as raw bits: size, kind, float format, and the
// conversions between an element's bits and its value in double (host code;
// the format codecs themselves are usable in kernels, see codecs.h).
#ifndef TANDEM_TESTS_COMMON_TYPES_H_
#define TANDEM_TESTS_COMMON_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tandem/tandem.h"
#include "tests/common/codecs.h"

namespace tdm::test {

enum class Kind { kSigned, kUnsigned, kFloat };

struct TypeTraits {
  size_t size;
  Kind kind;
  FloatFormat format;  // floats (fp32 and fp64 too, for their parameters)
  double max_exact;    // floats: every integer in [-max_exact, max_exact] is representable
};

// Indexed by tdmDataType_t.
inline constexpr TypeTraits kTypeTraits[] = {
    {1, Kind::kSigned, {}, 0},
    {1, Kind::kUnsigned, {}, 0},
    {4, Kind::kSigned, {}, 0},
    {4, Kind::kUnsigned, {}, 0},
    {8, Kind::kSigned, {}, 0},
    {8, Kind::kUnsigned, {}, 0},
    {2, Kind::kFloat, kHalfFormat, 2048.0},
    {4, Kind::kFloat, {8, 23, true, false}, 16777216.0},
    {8, Kind::kFloat, {11, 52, true, false}, 9007199254740992.0},
    {2, Kind::kFloat, kBfloat16Format, 256.0},
    {1, Kind::kFloat, kE4m3Format, 16.0},
    {1, Kind::kFloat, kE5m2Format, 8.0},
};
static_assert(sizeof(kTypeTraits) / sizeof(kTypeTraits[0]) == tdmNumTypes,
              "one entry per tdmDataType_t");

constexpr const TypeTraits& traits(tdmDataType_t t) { return kTypeTraits[t]; }
constexpr size_t type_size(tdmDataType_t t) { return traits(t).size; }
constexpr bool is_float(tdmDataType_t t) { return traits(t).kind == Kind::kFloat; }
constexpr bool is_signed_int(tdmDataType_t t) { return traits(t).kind == Kind::kSigned; }
// 2^-(mantissa bits + 1); 0 for integers.
constexpr double unit_roundoff(tdmDataType_t t) {
  return is_float(t) ? traits(t).format.unit_roundoff() : 0.0;
}

// The low size*8 bits of x.
constexpr uint64_t truncate(tdmDataType_t t, uint64_t x) {
  return type_size(t) >= 8 ? x : x & ((uint64_t{1} << (8 * type_size(t))) - 1);
}
// The low size*8 bits of x as a signed integer.
constexpr int64_t sign_extend(tdmDataType_t t, uint64_t x) {
  if (type_size(t) >= 8) return static_cast<int64_t>(x);
  const uint64_t m = uint64_t{1} << (8 * type_size(t) - 1);
  return static_cast<int64_t>((truncate(t, x) ^ m) - m);
}

// Raw element i of a buffer of type t (little endian, zero-extended).
inline uint64_t load_bits(tdmDataType_t t, const void* base, size_t i) {
  uint64_t v = 0;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + i * type_size(t), type_size(t));
  return v;
}
inline void store_bits(tdmDataType_t t, void* base, size_t i, uint64_t bits) {
  std::memcpy(static_cast<unsigned char*>(base) + i * type_size(t), &bits, type_size(t));
}

// The value of an element's bits (integers as their signed or unsigned value).
inline double decode(tdmDataType_t t, uint64_t bits) {
  switch (t) {
    case tdmFloat32: {
      const uint32_t u = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &u, sizeof f);
      return f;
    }
    case tdmFloat64:
      return detail::double_of(bits);
    default:
      if (is_float(t)) return decode(traits(t).format, truncate(t, bits));
      return is_signed_int(t) ? static_cast<double>(sign_extend(t, bits))
                              : static_cast<double>(truncate(t, bits));
  }
}

// The bits of v stored in type t: floats round to nearest even (see
// codecs.h); integers convert (truncating toward zero) and wrap to the width.
inline uint64_t encode(tdmDataType_t t, double v) {
  switch (t) {
    case tdmFloat32: {
      const float f = static_cast<float>(v);
      uint32_t u;
      std::memcpy(&u, &f, sizeof u);
      return u;
    }
    case tdmFloat64:
      return detail::bits_of(v);
    case tdmUint64:
      return static_cast<uint64_t>(v);
    default:
      if (is_float(t)) return encode(traits(t).format, v);
      return truncate(t, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
}

// v rounded as storing it in type t would.
inline double round_to(tdmDataType_t t, double v) { return decode(t, encode(t, v)); }

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_TYPES_H_
