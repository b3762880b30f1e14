// Narrow float formats (fp16, bf16, fp8 e4m3 and e5m2) encoded and decoded
// from their definitions, with integer arithmetic on the bits of a double.
// This is the tests' and tools' own implementation, written apart from the
// library's src/util/numeric_types.h on purpose: a reference that reused the
// library's conversions would agree with the library's bugs.
//
// encode rounds to nearest, ties to even. Finite overflow and infinities
// follow NCCL's and the library's rules: fp16 and bf16 give infinity, the fp8
// formats saturate to their largest finite value. NaN gives a quiet NaN
// (e4m3: S.1111.111).
#ifndef TANDEM_TESTS_COMMON_CODECS_H_
#define TANDEM_TESTS_COMMON_CODECS_H_

#include <cstdint>
#include <cstring>

#include "tests/common/host_device.h"

namespace tdm::test {

struct FloatFormat {
  int exp_bits;
  int mant_bits;  // stored mantissa bits
  bool has_inf;   // IEEE-like all-ones exponent; false: OCP e4m3 ("FN"), NaN = S.1111.111
  bool saturate;  // finite overflow and infinities -> largest finite value (fp8)

  TDM_TEST_HD constexpr int bias() const { return (1 << (exp_bits - 1)) - 1; }
  TDM_TEST_HD constexpr uint64_t exp_all() const { return (uint64_t{1} << exp_bits) - 1; }
  TDM_TEST_HD constexpr uint64_t mant_all() const { return (uint64_t{1} << mant_bits) - 1; }
  TDM_TEST_HD constexpr uint64_t sign_bit() const { return uint64_t{1} << (exp_bits + mant_bits); }
  // Largest finite code (positive).
  TDM_TEST_HD constexpr uint64_t max_code() const {
    return has_inf ? ((exp_all() - 1) << mant_bits | mant_all())
                   : (exp_all() << mant_bits | (mant_all() - 1));
  }
  TDM_TEST_HD constexpr uint64_t inf_code() const { return exp_all() << mant_bits; }
  TDM_TEST_HD constexpr uint64_t nan_code() const {
    return has_inf ? (exp_all() << mant_bits | uint64_t{1} << (mant_bits - 1))
                   : (exp_all() << mant_bits | mant_all());
  }
  // 2^-(mantissa bits + 1): half an ulp, relative.
  TDM_TEST_HD constexpr double unit_roundoff() const {
    double u = 0.5;
    for (int i = 0; i < mant_bits; ++i) u /= 2;
    return u;
  }
};

inline constexpr FloatFormat kHalfFormat{5, 10, true, false};
inline constexpr FloatFormat kBfloat16Format{8, 7, true, false};
inline constexpr FloatFormat kE4m3Format{4, 3, false, true};
inline constexpr FloatFormat kE5m2Format{5, 2, true, true};

namespace detail {

TDM_TEST_HD inline uint64_t bits_of(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}
TDM_TEST_HD inline double double_of(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}
// 2^e for e in double's normal range (every exponent the formats need).
TDM_TEST_HD inline double pow2(int e) { return double_of(static_cast<uint64_t>(e + 1023) << 52); }

}  // namespace detail

// The value of `code` (the low 1 + exp_bits + mant_bits bits); NaN codes give NaN.
TDM_TEST_HD inline double decode(const FloatFormat& f, uint64_t code) {
  const bool negative = (code & f.sign_bit()) != 0;
  const uint64_t e = (code >> f.mant_bits) & f.exp_all(), m = code & f.mant_all();
  double v;
  if (f.has_inf && e == f.exp_all()) {
    v = detail::double_of(m ? 0x7ff8000000000000ull : 0x7ff0000000000000ull);
  } else if (!f.has_inf && e == f.exp_all() && m == f.mant_all()) {
    v = detail::double_of(0x7ff8000000000000ull);
  } else if (e == 0) {
    v = static_cast<double>(m) * detail::pow2(1 - f.bias() - f.mant_bits);
  } else {
    v = static_cast<double>(m | (uint64_t{1} << f.mant_bits)) *
        detail::pow2(static_cast<int>(e) - f.bias() - f.mant_bits);
  }
  return negative ? -v : v;
}

// The code nearest to v (ties to even), with the format's overflow rule.
TDM_TEST_HD inline uint64_t encode(const FloatFormat& f, double v) {
  const uint64_t d = detail::bits_of(v);
  const uint64_t sign = (d >> 63) ? f.sign_bit() : 0;
  const int dexp = static_cast<int>((d >> 52) & 0x7ff);
  const uint64_t dman = d & ((uint64_t{1} << 52) - 1);
  const uint64_t overflow = f.saturate || !f.has_inf ? f.max_code() : f.inf_code();
  if (dexp == 0x7ff) return sign | (dman ? f.nan_code() : overflow);
  if (dexp == 0) return sign;  // zero or a double subnormal: far below every format's half step
  // |v| = n * 2^(dexp - 1075), n a 53-bit integer; quantum 2^q of the target
  // (the subnormal step below the normal range).
  const uint64_t n = dman | (uint64_t{1} << 52);
  int e = dexp - 1023;
  const int emin = 1 - f.bias();
  const int q = (e < emin ? emin : e) - f.mant_bits;
  const int shift = q - (dexp - 1075);  // >= 52 - mant_bits > 0
  if (shift >= 54) return sign;         // below half the smallest step
  uint64_t r = n >> shift;
  const uint64_t rem = n & ((uint64_t{1} << shift) - 1), half = uint64_t{1} << (shift - 1);
  if (rem > half || (rem == half && (r & 1))) ++r;
  if (e < emin) return sign | r;  // subnormal; r == 2^mant is the smallest normal's code
  if (r == uint64_t{1} << (f.mant_bits + 1)) {  // rounding carried into the next binade
    r >>= 1;
    ++e;
  }
  const uint64_t code = static_cast<uint64_t>(e + f.bias()) << f.mant_bits | (r & f.mant_all());
  return sign | (code > f.max_code() ? overflow : code);
}

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_CODECS_H_
