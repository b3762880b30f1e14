// Narrow float formats against references built from the format definitions
// in double precision: every code widens exactly as the test harness's own
// codec decodes it (tests/common/codecs.h), and narrowing picks the nearest
// representable value (ties to even, found by search over every code), with
// each format's overflow rule. The harness's encoder is checked against the
// same search, since the other tests' references rely on it.
#include "util/numeric_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "tests/common/codecs.h"

namespace {

struct Format {
  const char* name;
  tdm::test::FloatFormat codec;  // the harness's description of the format
  int mant, exp_bits;
  bool has_inf;   // IEEE-like infinities (else e4m3's single NaN pattern S.1111.111)
  bool saturate;  // overflow -> max finite (fp8) or inf (fp16/bf16)
  Format(const char* n, const tdm::test::FloatFormat& f)
      : name(n),
        codec(f),
        mant(f.mant_bits),
        exp_bits(f.exp_bits),
        has_inf(f.has_inf),
        saturate(f.saturate) {}
};

// Value of a code per the format definition; NaN for NaN codes.
double reference_value(const Format& f, uint32_t code) { return tdm::test::decode(f.codec, code); }

// All codes' values, and the non-negative finite ones sorted, for the nearest-value search.
struct Reference {
  Format f;
  std::vector<double> values;
  std::vector<std::pair<double, uint32_t>> finite;
  uint32_t max_code = 0;
  uint32_t inf_code = 0;

  explicit Reference(const Format& format) : f(format) {
    const uint32_t codes = 1u << (1 + f.mant + f.exp_bits);
    for (uint32_t c = 0; c < codes; ++c) values.push_back(reference_value(f, c));
    for (uint32_t c = 0; c < codes / 2; ++c)
      if (std::isfinite(values[c])) finite.emplace_back(values[c], c);
    std::sort(finite.begin(), finite.end());
    max_code = finite.back().second;
    inf_code = ((1u << f.exp_bits) - 1) << f.mant;
  }
  uint32_t sign_bit() const { return 1u << (f.mant + f.exp_bits); }
  double max_finite() const { return finite.back().first; }
  // Spacing of the codes just below the largest finite value.
  double top_ulp() const { return max_finite() - finite[finite.size() - 2].first; }

  // Nearest code to a non-NaN x (ties to the even code), with the format's overflow rule.
  uint32_t narrow(double x) const {
    const uint32_t sign = std::signbit(x) ? sign_bit() : 0;
    const double a = std::fabs(x);
    const uint32_t overflow = f.saturate ? max_code : inf_code;
    const double limit = max_finite() + top_ulp() / 2;  // halfway to the next binade step
    // At the limit itself, RNE picks the even of max and the (virtual) next code.
    if (std::isinf(a) || a > limit || (a == limit && (max_code & 1))) return sign | overflow;
    auto hi = std::lower_bound(finite.begin(), finite.end(), std::make_pair(a, 0u));
    if (hi == finite.end()) return sign | max_code;
    if (hi->first == a || hi == finite.begin()) return sign | hi->second;
    auto lo = std::prev(hi);
    const double dl = a - lo->first, dh = hi->first - a;
    if (dl < dh) return sign | lo->second;
    if (dh < dl) return sign | hi->second;
    return sign | ((lo->second & 1) == 0 ? lo->second : hi->second);
  }
};

float float_of_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

template <typename T>
T from_code(uint32_t c) {
  return T{static_cast<decltype(T{}.bits)>(c)};
}

template <typename T>
void check_format(const Format& format) {
  const Reference ref(format);
  const uint32_t codes = uint32_t(ref.values.size());
  std::random_device device;
  const unsigned seed = device();
  SCOPED_TRACE(::testing::Message() << format.name << ", seed " << seed);
  std::mt19937 rng(seed);

  // Widening: exact for every code; every finite code round-trips (negative
  // zero keeps its sign); fp8 infinities saturate, which the narrowing checks cover.
  for (uint32_t c = 0; c < codes; ++c) {
    const T t = from_code<T>(c);
    const float w = t.to_float();
    const float converted = static_cast<float>(t);  // the explicit conversion is to_float
    ASSERT_EQ(std::bit_cast<uint32_t>(converted), std::bit_cast<uint32_t>(w)) << "code " << c;
    if (std::isnan(ref.values[c])) {
      ASSERT_TRUE(std::isnan(w)) << "code " << c;
      continue;
    }
    ASSERT_EQ(double(w), ref.values[c]) << "code " << c;
    ASSERT_EQ(std::signbit(w), std::signbit(ref.values[c])) << "code " << c;
    if (std::isfinite(ref.values[c])) {
      ASSERT_EQ(uint32_t(T::from_float(w).bits), c) << "round trip of code " << c;
    }
  }

  // Narrowing probes: exact midpoints between neighbouring codes (ties) and
  // the floats next to them, which covers every subnormal and the rounding
  // into the smallest normal; overflow around the largest finite value;
  // random floats inside the format's range and random float bit patterns.
  std::vector<float> probes;
  auto add = [&](double v) {
    const float p = float(v);
    for (float q : {p, std::nextafter(p, 0.f), std::nextafter(p, INFINITY)}) {
      probes.push_back(q);
      probes.push_back(-q);
    }
  };
  for (size_t i = 0; i + 1 < ref.finite.size(); ++i)
    add((ref.finite[i].first + ref.finite[i + 1].first) / 2);
  const double max = ref.max_finite();
  for (double v : {max, max + ref.top_ulp() / 2, max + ref.top_ulp(), 2 * max, 1e6 * max,
                   double(FLT_MAX), double(FLT_MIN), double(FLT_TRUE_MIN), 0.0, double(INFINITY)})
    add(v);
  const double min_sub = ref.finite[1].first;
  std::uniform_real_distribution<double> unit(0, 1);
  const double lo = std::log2(min_sub) - 2, hi = std::log2(max) + 2;
  for (int i = 0; i < 50000; ++i) {
    probes.push_back(float((rng() & 1 ? -1 : 1) * std::exp2(lo + (hi - lo) * unit(rng))));
    probes.push_back(float_of_bits(uint32_t(rng())));
  }
  size_t checked = 0;
  for (float p : probes) {
    const uint32_t got = T::from_float(p).bits;
    if (std::isnan(p)) {
      ASSERT_TRUE(std::isnan(ref.values[got])) << "NaN narrowed to code " << got;
      continue;
    }
    ASSERT_EQ(got, ref.narrow(double(p))) << "narrowing " << p;
    ASSERT_EQ(tdm::test::encode(format.codec, double(p)), got) << "harness narrowing " << p;
    ++checked;
  }
  EXPECT_GT(checked, probes.size() / 2);

  // NaN of either sign, quiet or signaling, with payload only in the low bits, stays NaN.
  for (uint32_t bits : {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u, 0x7fffffffu,
                        0x7f801000u, 0x7fa00000u}) {
    const uint32_t got = T::from_float(float_of_bits(bits)).bits;
    EXPECT_TRUE(std::isnan(ref.values[got])) << std::hex << bits << " -> " << got;
    EXPECT_EQ((got & ref.sign_bit()) != 0, (bits >> 31) != 0) << std::hex << bits;
  }
}

TEST(NumericTypes, Half) { check_format<tdm::half_t>({"fp16", tdm::test::kHalfFormat}); }
TEST(NumericTypes, Bfloat16) {
  check_format<tdm::bfloat16_t>({"bf16", tdm::test::kBfloat16Format});
}
TEST(NumericTypes, Fp8E4M3) { check_format<tdm::fp8e4m3_t>({"e4m3", tdm::test::kE4m3Format}); }
TEST(NumericTypes, Fp8E5M2) { check_format<tdm::fp8e5m2_t>({"e5m2", tdm::test::kE5m2Format}); }

// A few codes written out by hand from the format specifications.
TEST(NumericTypes, KnownCodes) {
  using tdm::bfloat16_t;
  using tdm::fp8e4m3_t;
  using tdm::fp8e5m2_t;
  using tdm::half_t;
  EXPECT_EQ(half_t::from_float(1.0f).bits, 0x3c00);
  EXPECT_EQ(half_t::from_float(-2.0f).bits, 0xc000);
  EXPECT_EQ(half_t::from_float(65504.0f).bits, 0x7bff);
  EXPECT_EQ(half_t::from_float(65519.0f).bits, 0x7bff);
  EXPECT_EQ(half_t::from_float(65520.0f).bits, 0x7c00);  // tie above max: even is inf
  EXPECT_EQ(half_t::from_float(-1e9f).bits, 0xfc00);
  EXPECT_EQ(half_t::from_float(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(half_t::from_float(std::ldexp(1.0f, -25)).bits, 0x0000);  // tie to even: 0
  EXPECT_EQ(half_t::from_float(std::ldexp(3.0f, -25)).bits, 0x0002);  // tie to even: 2
  EXPECT_EQ(half_t::from_float(std::ldexp(1023.0f, -24)).bits, 0x03ff);
  EXPECT_EQ(half_t::from_float(-0.0f).bits, 0x8000);
  EXPECT_EQ(half_t::from_float(1.0f + std::ldexp(1.0f, -11)).bits, 0x3c00);  // tie to even
  EXPECT_EQ(half_t::from_float(1.0f + std::ldexp(3.0f, -11)).bits, 0x3c02);  // tie to even
  EXPECT_EQ(half_t{0x0001}.to_float(), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_t{0x7c00}.to_float(), INFINITY);

  EXPECT_EQ(bfloat16_t::from_float(1.0f).bits, 0x3f80);
  EXPECT_EQ(bfloat16_t::from_float(1.0f + std::ldexp(1.0f, -8)).bits, 0x3f80);
  EXPECT_EQ(bfloat16_t::from_float(1.0f + std::ldexp(3.0f, -8)).bits, 0x3f82);
  EXPECT_EQ(bfloat16_t::from_float(FLT_MAX).bits, 0x7f80);
  EXPECT_EQ(bfloat16_t{0xff80}.to_float(), -INFINITY);

  EXPECT_EQ(fp8e4m3_t::from_float(448.0f).bits, 0x7e);
  EXPECT_EQ(fp8e4m3_t::from_float(464.0f).bits, 0x7e);
  EXPECT_EQ(fp8e4m3_t::from_float(1e9f).bits, 0x7e);
  EXPECT_EQ(fp8e4m3_t::from_float(INFINITY).bits, 0x7e);
  EXPECT_EQ(fp8e4m3_t::from_float(-INFINITY).bits, 0xfe);
  EXPECT_EQ(fp8e4m3_t::from_float(NAN).bits & 0x7f, 0x7f);
  EXPECT_EQ(fp8e4m3_t::from_float(std::ldexp(1.0f, -9)).bits, 0x01);
  EXPECT_EQ(fp8e4m3_t::from_float(std::ldexp(1.0f, -6)).bits, 0x08);  // smallest normal
  EXPECT_EQ(fp8e4m3_t{0x7e}.to_float(), 448.0f);
  EXPECT_TRUE(std::isnan(fp8e4m3_t{0xff}.to_float()));
  EXPECT_EQ(fp8e4m3_t{0x78}.to_float(), 256.0f);  // exponent 15 is finite in the FN variant

  EXPECT_EQ(fp8e5m2_t::from_float(57344.0f).bits, 0x7b);
  EXPECT_EQ(fp8e5m2_t::from_float(1e9f).bits, 0x7b);
  EXPECT_EQ(fp8e5m2_t::from_float(-INFINITY).bits, 0xfb);
  EXPECT_EQ(fp8e5m2_t::from_float(std::ldexp(1.0f, -16)).bits, 0x01);
  EXPECT_EQ(fp8e5m2_t{0x7c}.to_float(), INFINITY);
  EXPECT_TRUE(std::isnan(fp8e5m2_t{0x7d}.to_float()));
}

// The wrappers are plain bit containers the runtime can memcpy.
static_assert(std::is_trivially_copyable_v<tdm::half_t> && std::is_standard_layout_v<tdm::half_t>);
static_assert(std::is_trivially_copyable_v<tdm::fp8e4m3_t>);

}  // namespace
