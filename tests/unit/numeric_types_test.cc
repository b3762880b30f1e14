// Narrow float formats against a reference built from the format definitions
// in double precision: every code widens exactly, and narrowing picks the
// nearest representable value (ties to even), with each format's overflow rule.
#include "util/numeric_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace {

struct Format {
  const char* name;
  int mant, exp_bits, bias;
  bool has_inf;   // IEEE-like infinities (else e4m3's single NaN pattern)
  bool saturate;  // overflow -> max finite (fp8) or inf (fp16/bf16)
};

// Value of a code per the format definition; NaN for NaN codes.
double reference_value(const Format& f, uint32_t code) {
  const uint32_t sign = (code >> (f.mant + f.exp_bits)) & 1;
  const uint32_t e = (code >> f.mant) & ((1u << f.exp_bits) - 1);
  const uint32_t m = code & ((1u << f.mant) - 1);
  const uint32_t emax = (1u << f.exp_bits) - 1;
  double v;
  if (f.has_inf && e == emax)
    v = m ? std::nan("") : INFINITY;
  else if (!f.has_inf && e == emax && m == (1u << f.mant) - 1)
    v = std::nan("");
  else if (e == 0)
    v = std::ldexp(double(m), 1 - f.bias - f.mant);
  else
    v = std::ldexp(1.0 + std::ldexp(double(m), -f.mant), int(e) - f.bias);
  return sign ? -v : v;
}

// Non-negative finite codes sorted by value, for the nearest-value search.
struct Table {
  std::vector<std::pair<double, uint32_t>> finite;
  double max_finite = 0;
  uint32_t max_code = 0;
};

Table make_table(const Format& f, const std::vector<double>& values) {
  Table t;
  const uint32_t sign_bit = 1u << (f.mant + f.exp_bits);
  for (uint32_t c = 0; c < sign_bit; ++c)
    if (std::isfinite(values[c])) t.finite.emplace_back(values[c], c);
  std::sort(t.finite.begin(), t.finite.end());
  t.max_finite = t.finite.back().first;
  t.max_code = t.finite.back().second;
  return t;
}

// Nearest code to x (ties to the even code), with the format's overflow rule.
uint32_t reference_narrow(const Format& f, const Table& t, double x) {
  const uint32_t sign = std::signbit(x) ? 1u << (f.mant + f.exp_bits) : 0;
  const double a = std::fabs(x);
  const uint32_t inf_code = ((1u << f.exp_bits) - 1) << f.mant;
  // Overflow: beyond max + half an ulp of the top binade (a tie there rounds up, max is odd).
  const double ulp_top = std::ldexp(1.0, int(t.max_code >> f.mant) - f.bias - f.mant);
  if (std::isinf(a) || a >= t.max_finite + ulp_top / 2)
    return sign | (f.saturate ? t.max_code : inf_code);
  auto hi = std::lower_bound(t.finite.begin(), t.finite.end(), std::make_pair(a, 0u));
  if (hi == t.finite.end()) return sign | t.max_code;  // within half an ulp above max
  if (hi == t.finite.begin()) return sign | hi->second;
  auto lo = std::prev(hi);
  double dl = a - lo->first, dh = hi->first - a;
  if (dl < dh) return sign | lo->second;
  if (dh < dl) return sign | hi->second;
  return sign | ((lo->second & 1) == 0 ? lo->second : hi->second);
}

template <typename T>
void check_format(const Format& f) {
  const uint32_t codes = 1u << (1 + f.mant + f.exp_bits);
  std::vector<double> values(codes);
  for (uint32_t c = 0; c < codes; ++c) values[c] = reference_value(f, c);
  const Table table = make_table(f, values);
  // Widening: exact for every code.
  for (uint32_t c = 0; c < codes; ++c) {
    T t{static_cast<decltype(T{}.bits)>(c)};
    float w = t.to_float();
    if (std::isnan(values[c])) {
      EXPECT_TRUE(std::isnan(w)) << f.name << " code " << c;
    } else {
      ASSERT_EQ(double(w), values[c]) << f.name << " code " << c;
      // Round trip of every finite code (negative zero keeps its sign); fp8
      // infinities saturate by design and are checked below.
      if (std::isfinite(values[c])) {
        ASSERT_EQ(uint32_t(T::from_float(w).bits), c) << f.name << " round trip of code " << c;
      }
    }
  }
  // Narrowing: exact midpoints between neighbours, just above/below them, and random values.
  std::vector<float> probes;
  for (uint32_t c = 0; c + 1 < codes / 2; ++c) {
    if (!std::isfinite(values[c]) || !std::isfinite(values[c + 1])) continue;
    double mid = (values[c] + values[c + 1]) / 2;
    for (float p :
         {float(mid), std::nextafter(float(mid), 0.f), std::nextafter(float(mid), INFINITY)})
      probes.push_back(p), probes.push_back(-p);
  }
  std::random_device device;
  const unsigned seed = device();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> exponent(-30, 20), mantissa(1, 2);
  for (int i = 0; i < 20000; ++i)
    probes.push_back(float((rng() & 1 ? -1 : 1) * std::ldexp(mantissa(rng), int(exponent(rng)))));
  probes.push_back(INFINITY);
  probes.push_back(-INFINITY);
  probes.push_back(1e30f);
  probes.push_back(std::numeric_limits<float>::denorm_min());
  for (float p : probes) {
    uint32_t got = T::from_float(p).bits;
    uint32_t want = reference_narrow(f, table, double(p));
    ASSERT_EQ(got, want) << f.name << " narrowing " << p << " (seed " << seed << ")";
  }
  EXPECT_TRUE(std::isnan(T::from_float(std::nanf("")).to_float())) << f.name;
}

TEST(NumericTypes, Half) { check_format<tdm::half_t>({"fp16", 10, 5, 15, true, false}); }
TEST(NumericTypes, Bfloat16) { check_format<tdm::bfloat16_t>({"bf16", 7, 8, 127, true, false}); }
TEST(NumericTypes, Fp8E4M3) { check_format<tdm::fp8e4m3_t>({"e4m3", 3, 4, 7, false, true}); }
TEST(NumericTypes, Fp8E5M2) { check_format<tdm::fp8e5m2_t>({"e5m2", 2, 5, 15, true, true}); }

}  // namespace
