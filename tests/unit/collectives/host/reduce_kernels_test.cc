// Host reduction kernels against an independent reference on fresh random
// data, for every type: exact 128-bit integer arithmetic reduced modulo the
// type's width; for narrow floats the exact (or innocuously rounded) result
// in double, rounded to the nearest code of a table built from the format
// definition; float from double; double within half an ulp of long double.
// Covers reduce for every op, premulsum scaling, avg division, in-place
// aliasing, NaN handling of max/min, and counts 0, 1, odd and vector tails.
#include "collectives/host/reduce_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "util/dtype.h"
#include "util/error.h"

namespace {

using tdm::host::ReduceOp;
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;
using Bytes = std::vector<unsigned char>;

// ---- narrow formats from their definitions ----

struct Format {
  int mant, exp_bits, bias;
  bool has_inf;   // IEEE-like inf/NaN (else e4m3: only S.1111.111 is NaN)
  bool saturate;  // overflow -> max finite (fp8) or inf
};

struct NarrowRef {
  Format f;
  std::vector<double> values;                       // by code; NaN for NaN codes
  std::vector<std::pair<double, uint32_t>> finite;  // non-negative, sorted
  uint32_t max_code = 0, inf_code = 0, nan_code = 0;

  explicit NarrowRef(Format format) : f(format) {
    const uint32_t codes = 1u << (1 + f.mant + f.exp_bits);
    const uint32_t emax = (1u << f.exp_bits) - 1, mmax = (1u << f.mant) - 1;
    for (uint32_t c = 0; c < codes; ++c) {
      const uint32_t e = (c >> f.mant) & emax, m = c & mmax;
      double v;
      if (f.has_inf && e == emax)
        v = m ? NAN : INFINITY;
      else if (!f.has_inf && e == emax && m == mmax)
        v = NAN;
      else if (e == 0)
        v = std::ldexp(double(m), 1 - f.bias - f.mant);
      else
        v = std::ldexp(double(m | (mmax + 1)), int(e) - f.bias - f.mant);
      values.push_back((c >> (f.mant + f.exp_bits)) ? -v : v);
    }
    for (uint32_t c = 0; c < codes / 2; ++c) {
      if (std::isfinite(values[c]))
        finite.emplace_back(values[c], c);
      else if (std::isnan(values[c]) && nan_code == 0)
        nan_code = c;
    }
    std::sort(finite.begin(), finite.end());
    max_code = finite.back().second;
    inf_code = emax << f.mant;
  }
  uint32_t sign_bit() const { return 1u << (f.mant + f.exp_bits); }
  bool is_nan(uint32_t code) const { return std::isnan(values[code]); }

  // Nearest code (ties to even) with the overflow rule; NaN -> a NaN code.
  uint32_t round(double x) const {
    if (std::isnan(x)) return nan_code;
    const uint32_t sign = std::signbit(x) ? sign_bit() : 0;
    const double a = std::fabs(x);
    const double top = finite.back().first, below = finite[finite.size() - 2].first;
    const double limit = top + (top - below) / 2;
    if (std::isinf(a) || a > limit || (a == limit && (max_code & 1)))
      return sign | (f.saturate ? max_code : inf_code);
    auto hi = std::lower_bound(finite.begin(), finite.end(), std::make_pair(a, 0u));
    if (hi == finite.end()) return sign | max_code;
    if (hi->first == a || hi == finite.begin()) return sign | hi->second;
    auto lo = std::prev(hi);
    const double dl = a - lo->first, dh = hi->first - a;
    if (dl != dh) return sign | (dl < dh ? lo->second : hi->second);
    return sign | ((lo->second & 1) == 0 ? lo->second : hi->second);
  }
};

const NarrowRef* narrow_ref(tdmDataType_t t) {
  static const NarrowRef fp16({10, 5, 15, true, false}), bf16({7, 8, 127, true, false}),
      e4m3({3, 4, 7, false, true}), e5m2({2, 5, 15, true, true});
  switch (t) {
    case tdmFloat16:
      return &fp16;
    case tdmBfloat16:
      return &bf16;
    case tdmFloat8e4m3:
      return &e4m3;
    case tdmFloat8e5m2:
      return &e5m2;
    default:
      return nullptr;
  }
}

// ---- typed access to byte buffers ----

bool is_int(tdmDataType_t t) { return !tdm::is_floating(t); }
bool is_signed_int(tdmDataType_t t) { return t == tdmInt8 || t == tdmInt32 || t == tdmInt64; }
size_t width_bits(tdmDataType_t t) { return 8 * tdm::type_size(t); }

uint64_t raw(tdmDataType_t t, const Bytes& buf, size_t i) {
  uint64_t v = 0;  // little-endian host
  std::memcpy(&v, buf.data() + i * tdm::type_size(t), tdm::type_size(t));
  return v;
}
void set_raw(tdmDataType_t t, Bytes& buf, size_t i, uint64_t v) {
  std::memcpy(buf.data() + i * tdm::type_size(t), &v, tdm::type_size(t));
}

i128 load_int(tdmDataType_t t, const Bytes& buf, size_t i) {
  const uint64_t r = raw(t, buf, i);
  const size_t w = width_bits(t);
  if (is_signed_int(t) && w < 64 && (r >> (w - 1)) & 1) return i128(r) - (i128(1) << w);
  if (is_signed_int(t) && w == 64) return i128(int64_t(r));
  return i128(r);
}

// Exact value of a floating element (every format here fits in long double).
long double load_real(tdmDataType_t t, const Bytes& buf, size_t i) {
  const uint64_t r = raw(t, buf, i);
  if (t == tdmFloat32) {
    float f;
    uint32_t u = uint32_t(r);
    std::memcpy(&f, &u, 4);
    return f;
  }
  if (t == tdmFloat64) {
    double d;
    std::memcpy(&d, &r, 8);
    return d;
  }
  return narrow_ref(t)->values[r];
}

uint64_t float_raw(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
uint64_t double_raw(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
// A representable value of a floating type as raw bits.
uint64_t encode(tdmDataType_t t, double v) {
  if (t == tdmFloat32) return float_raw(float(v));
  if (t == tdmFloat64) return double_raw(v);
  return narrow_ref(t)->round(v);
}

// ---- random data ----

struct Rng {
  unsigned seed = std::random_device{}();
  std::mt19937_64 gen{seed};

  // Any non-NaN value: random bit patterns (ints, floats, narrow codes); doubles
  // with exponents in [-100, 100] so long double keeps the reference tight.
  uint64_t value(tdmDataType_t t) {
    for (;;) {
      uint64_t r = gen();
      if (t == tdmFloat64) {
        const double m = 1 + double(r >> 12) * 0x1p-52;
        const int e = int(r % 201) - 100;
        return double_raw((r & 2048) ? -std::ldexp(m, e) : std::ldexp(m, e));
      }
      const size_t w = width_bits(t);
      if (w < 64) r &= (uint64_t(1) << w) - 1;
      if (t == tdmFloat32) {
        float f;
        uint32_t u = uint32_t(r);
        std::memcpy(&f, &u, 4);
        if (std::isnan(f)) continue;
      } else if (const NarrowRef* n = narrow_ref(t); n && n->is_nan(uint32_t(r))) {
        continue;
      }
      return r;
    }
  }
};

// Edge values placed at the front of the inputs (as all pairs) when there is room.
std::vector<uint64_t> edges(tdmDataType_t t) {
  if (is_int(t)) {
    const size_t w = width_bits(t);
    const uint64_t ones = w == 64 ? ~uint64_t(0) : (uint64_t(1) << w) - 1;
    return {0, 1, ones, ones >> 1, (ones >> 1) + 1};  // 0, 1, -1/max, max/min positive, min
  }
  if (t == tdmFloat32)
    return {0, 0x80000000u, 1, 0x3f800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u};
  if (t == tdmFloat64)
    return {0,
            double_raw(-0.0),
            double_raw(1.0),
            double_raw(DBL_MAX),
            double_raw(-DBL_MAX),
            double_raw(DBL_MIN)};
  const NarrowRef& n = *narrow_ref(t);
  return {0,
          n.sign_bit(),
          1,
          n.max_code,
          n.sign_bit() | n.max_code,
          encode(t, 1.0),
          n.f.has_inf ? n.inf_code : encode(t, 2.0)};
}

struct Inputs {
  Bytes a, b;
};
Inputs make_inputs(tdmDataType_t t, size_t n, Rng& rng) {
  Inputs in{Bytes(n * tdm::type_size(t)), Bytes(n * tdm::type_size(t))};
  for (size_t i = 0; i < n; ++i) {
    set_raw(t, in.a, i, rng.value(t));
    set_raw(t, in.b, i, rng.value(t));
  }
  const auto e = edges(t);
  if (n >= e.size() * e.size())
    for (size_t i = 0; i < e.size(); ++i)
      for (size_t j = 0; j < e.size(); ++j) {
        set_raw(t, in.a, i * e.size() + j, e[i]);
        set_raw(t, in.b, i * e.size() + j, e[j]);
      }
  return in;
}

// ---- reference results ----

enum class Ref { kSum, kProd, kMax, kMin, kScale, kDivide };

// Checks one result element `got` (raw bits) against the reference of x op y
// (y: second operand, scalar, or divisor). Returns an empty string when it matches.
std::string check_int(tdmDataType_t t, Ref op, i128 x, i128 y, uint64_t got) {
  const size_t w = width_bits(t);
  const u128 mask = w == 64 ? u128(~uint64_t(0)) : (u128(1) << w) - 1;
  u128 want;
  switch (op) {
    case Ref::kSum:
      want = u128(x) + u128(y);
      break;
    case Ref::kProd:
    case Ref::kScale:
      want = u128(x) * u128(y);  // modulo 2^128, so its low bits are exact
      break;
    case Ref::kMax:
      want = u128(std::max(x, y));
      break;
    case Ref::kMin:
      want = u128(std::min(x, y));
      break;
    default:
      want = u128(x / y);  // C++ truncates toward zero
      break;
  }
  if ((want & mask) == (u128(got) & mask)) return "";
  return "int: got " + std::to_string(got) + " want " + std::to_string(uint64_t(want & mask)) +
         " from " + std::to_string(int64_t(x)) + ", " + std::to_string(int64_t(y));
}

long double apply(Ref op, long double x, long double y) {
  switch (op) {
    case Ref::kSum:
      return x + y;
    case Ref::kProd:
    case Ref::kScale:
      return x * y;
    case Ref::kMax:
      return std::fmax(x, y);
    case Ref::kMin:
      return std::fmin(x, y);
    default:
      return x / y;
  }
}

std::string check_real(tdmDataType_t t, Ref op, long double x, long double y, uint64_t got) {
  const bool minmax = op == Ref::kMax || op == Ref::kMin;
  auto fail = [&](long double g, long double want) {
    std::ostringstream s;
    s.precision(21);
    s << "got " << g << " want " << want << " from " << x << ", " << y;
    return s.str();
  };
  if (t == tdmFloat64) {
    double g;
    std::memcpy(&g, &got, 8);
    const long double r = apply(op, x, y);  // 64-bit significand
    if (std::isnan(r) || std::isnan(g)) return std::isnan(r) && std::isnan(g) ? "" : fail(g, r);
    const double nearest = double(r);
    if (g == nearest && (minmax || std::signbit(g) == std::signbit(nearest))) return "";
    // Half an ulp: no other double may be nearer to the reference than g (up to
    // the long double rounding of the reference itself).
    if (std::isfinite(g) && std::fabs(g - r) <= std::fabs(nearest - r) + std::fabs(r) * 0x1p-62L)
      return "";
    return fail(g, r);
  }
  // Narrow formats and float: the double result is exact, or rounded
  // innocuously before the single rounding to the destination.
  const double r = double(apply(op, x, y));
  if (t == tdmFloat32) {
    float g;
    uint32_t u = uint32_t(got);
    std::memcpy(&g, &u, 4);
    const float want = float(r);
    if (std::isnan(want) || std::isnan(g))
      return std::isnan(want) && std::isnan(g) ? "" : fail(g, want);
    if (minmax ? g == want : float_raw(g) == float_raw(want)) return "";
    return fail(g, want);
  }
  const NarrowRef& n = *narrow_ref(t);
  const uint32_t want = n.round(r);
  if (n.is_nan(want) || n.is_nan(uint32_t(got)))
    return n.is_nan(want) && n.is_nan(uint32_t(got)) ? "" : fail(n.values[got], n.values[want]);
  if (minmax ? n.values[got] == n.values[want] : got == want) return "";
  return fail(n.values[got], n.values[want]);
}

std::string check(tdmDataType_t t, Ref op, const Bytes& xs, size_t i, const Bytes* ys, size_t j,
                  i128 int_y, long double real_y, const Bytes& out) {
  if (is_int(t))
    return check_int(t, op, load_int(t, xs, i), ys ? load_int(t, *ys, j) : int_y, raw(t, out, i));
  return check_real(t, op, load_real(t, xs, i), ys ? load_real(t, *ys, j) : real_y, raw(t, out, i));
}

Ref ref_of(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return Ref::kSum;
    case ReduceOp::kProd:
      return Ref::kProd;
    case ReduceOp::kMax:
      return Ref::kMax;
    default:
      return Ref::kMin;
  }
}

const size_t kCounts[] = {0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 1000, 4099};
const ReduceOp kOps[] = {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMax, ReduceOp::kMin};
const unsigned char kGuard = 0xa5;

// Output buffer with guard bytes after the n elements.
Bytes with_guard(const Bytes& data) {
  Bytes out(data);
  out.resize(data.size() + 16, kGuard);
  return out;
}
::testing::AssertionResult guard_intact(const Bytes& buf, size_t used) {
  for (size_t k = used; k < buf.size(); ++k)
    if (buf[k] != kGuard) return ::testing::AssertionFailure() << "wrote past the end at " << k;
  return ::testing::AssertionSuccess();
}

class ReduceKernels : public ::testing::TestWithParam<int> {
 protected:
  tdmDataType_t type() const { return static_cast<tdmDataType_t>(GetParam()); }
  Rng rng;
};

TEST_P(ReduceKernels, ReduceMatchesTheReferenceAndAliasing) {
  const tdmDataType_t t = type();
  SCOPED_TRACE(::testing::Message() << tdm::type_name(t) << ", seed " << rng.seed);
  for (size_t n : kCounts) {
    for (ReduceOp op : kOps) {
      SCOPED_TRACE(::testing::Message() << "count " << n << " op " << int(op));
      const Inputs in = make_inputs(t, n, rng);
      const size_t bytes = in.a.size();
      Bytes out = with_guard(Bytes(bytes, 0));
      tdm::host::reduce(t, op, out.data(), in.a.data(), in.b.data(), n);
      ASSERT_TRUE(guard_intact(out, bytes));
      for (size_t i = 0; i < n; ++i) {
        const std::string err = check(t, ref_of(op), in.a, i, &in.b, i, 0, 0, out);
        ASSERT_EQ(err, "") << "element " << i;
      }
      out.resize(bytes);
      // dst == a, dst == b: bit-identical to out of place.
      Bytes in_a = with_guard(in.a), in_b = with_guard(in.b);
      tdm::host::reduce(t, op, in_a.data(), in_a.data(), in.b.data(), n);
      tdm::host::reduce(t, op, in_b.data(), in.a.data(), in_b.data(), n);
      ASSERT_TRUE(guard_intact(in_a, bytes));
      ASSERT_TRUE(guard_intact(in_b, bytes));
      in_a.resize(bytes);
      in_b.resize(bytes);
      ASSERT_EQ(in_a, out);
      ASSERT_EQ(in_b, out);
      // a == b (x op x), out of place and with dst aliasing both.
      Bytes same = with_guard(Bytes(bytes, 0)), all = with_guard(in.a);
      tdm::host::reduce(t, op, same.data(), in.a.data(), in.a.data(), n);
      tdm::host::reduce(t, op, all.data(), all.data(), all.data(), n);
      ASSERT_TRUE(guard_intact(same, bytes));
      ASSERT_EQ(all, same);
      for (size_t i = 0; i < n; ++i) {
        const std::string err = check(t, ref_of(op), in.a, i, &in.a, i, 0, 0, same);
        ASSERT_EQ(err, "") << "element " << i << " of x op x";
      }
    }
  }
}

TEST_P(ReduceKernels, ScaleMatchesTheReference) {
  const tdmDataType_t t = type();
  SCOPED_TRACE(::testing::Message() << tdm::type_name(t) << ", seed " << rng.seed);
  for (size_t n : kCounts) {
    for (int trial = 0; trial < 4; ++trial) {
      SCOPED_TRACE(::testing::Message() << "count " << n << " trial " << trial);
      const Inputs in = make_inputs(t, n, rng);
      // The scalar: random, or 1 / a small value for floats (their typical premulsum use).
      Bytes scalar(1 + 8, 0);  // unaligned on purpose
      uint64_t s = rng.value(t);
      if (!is_int(t) && trial >= 2) s = encode(t, trial == 2 ? 1.0 : 0.25);
      std::memcpy(scalar.data() + 1, &s, tdm::type_size(t));
      Bytes one(8);
      set_raw(t, one, 0, s);
      const i128 int_s = is_int(t) ? load_int(t, one, 0) : 0;
      const long double real_s = is_int(t) ? 0 : load_real(t, one, 0);

      const size_t bytes = in.a.size();
      Bytes out = with_guard(Bytes(bytes, 0));
      tdm::host::scale(t, out.data(), in.a.data(), n, scalar.data() + 1);
      ASSERT_TRUE(guard_intact(out, bytes));
      for (size_t i = 0; i < n; ++i) {
        const std::string err = check(t, Ref::kScale, in.a, i, nullptr, 0, int_s, real_s, out);
        ASSERT_EQ(err, "") << "element " << i;
      }
      Bytes in_place = with_guard(in.a);
      tdm::host::scale(t, in_place.data(), in_place.data(), n, scalar.data() + 1);
      ASSERT_EQ(in_place, out);
    }
  }
}

TEST_P(ReduceKernels, DivideMatchesTheReference) {
  const tdmDataType_t t = type();
  SCOPED_TRACE(::testing::Message() << tdm::type_name(t) << ", seed " << rng.seed);
  // Divisors are rank counts; some exceed the range of 8-bit types. (For narrow
  // floats the float quotient rounds innocuously only for divisors below 2^13.)
  for (int divisor : {1, 2, 3, 7, 8, 200, 256, 1000}) {
    for (size_t n : kCounts) {
      SCOPED_TRACE(::testing::Message() << "count " << n << " divisor " << divisor);
      const Inputs in = make_inputs(t, n, rng);
      Bytes data = with_guard(in.a);
      tdm::host::divide(t, data.data(), n, divisor);
      ASSERT_TRUE(guard_intact(data, in.a.size()));
      for (size_t i = 0; i < n; ++i) {
        const std::string err = check(t, Ref::kDivide, in.a, i, nullptr, 0, divisor, divisor, data);
        ASSERT_EQ(err, "") << "element " << i;
      }
    }
  }
}

// fmax/fmin semantics: a NaN operand is ignored; NaN only when both are NaN.
class FloatReduceKernels : public ReduceKernels {};

TEST_P(FloatReduceKernels, MaxMinIgnoreNaN) {
  const tdmDataType_t t = type();
  uint64_t nan = 0;
  if (t == tdmFloat32)
    nan = float_raw(NAN);
  else if (t == tdmFloat64)
    nan = double_raw(NAN);
  else
    nan = narrow_ref(t)->nan_code;
  const uint64_t one = encode(t, 1.0), three = encode(t, 3.0), m2 = encode(t, -2.0);
  const uint64_t a_codes[] = {nan, one, nan, m2, nan | (uint64_t(1) << (width_bits(t) - 1))};
  const uint64_t b_codes[] = {one, nan, nan, three, m2};
  const double want_max[] = {1, 1, NAN, 3, -2}, want_min[] = {1, 1, NAN, -2, -2};
  const size_t n = 5;
  Bytes a(n * tdm::type_size(t)), b(a.size());
  for (size_t i = 0; i < n; ++i) {
    set_raw(t, a, i, a_codes[i]);
    set_raw(t, b, i, b_codes[i]);
  }
  for (ReduceOp op : {ReduceOp::kMax, ReduceOp::kMin}) {
    Bytes out(a.size());
    tdm::host::reduce(t, op, out.data(), a.data(), b.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double want = op == ReduceOp::kMax ? want_max[i] : want_min[i];
      const long double got = load_real(t, out, i);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << "element " << i;
      } else {
        EXPECT_EQ(got, want) << "element " << i << " op " << int(op);
      }
    }
  }
  // Sum and product propagate NaN.
  Bytes out(a.size());
  tdm::host::reduce(t, ReduceOp::kSum, out.data(), a.data(), b.data(), n);
  EXPECT_TRUE(std::isnan(load_real(t, out, 0)));
  EXPECT_TRUE(std::isnan(load_real(t, out, 1)));
}

std::string type_param_name(const ::testing::TestParamInfo<int>& info) {
  return tdm::type_name(tdmDataType_t(info.param));
}
INSTANTIATE_TEST_SUITE_P(AllTypes, ReduceKernels, ::testing::Range(0, int(tdmNumTypes)),
                         type_param_name);
INSTANTIATE_TEST_SUITE_P(FloatTypes, FloatReduceKernels,
                         ::testing::Range(int(tdmFloat16), int(tdmNumTypes)), type_param_name);

TEST(ReduceKernelsErrors, InvalidArgumentsThrow) {
  float x = 1;
  auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const tdm::Error& e) {
      return e.code();
    }
    return tdmSuccess;
  };
  EXPECT_EQ(code_of([&] { tdm::host::reduce(tdmDataType_t(12), ReduceOp::kSum, &x, &x, &x, 1); }),
            tdmInvalidArgument);
  EXPECT_EQ(code_of([&] { tdm::host::reduce(tdmFloat32, ReduceOp(7), &x, &x, &x, 1); }),
            tdmInvalidArgument);
  EXPECT_EQ(code_of([&] { tdm::host::divide(tdmFloat32, &x, 1, 0); }), tdmInvalidArgument);
  EXPECT_EQ(code_of([&] { tdm::host::scale(tdmDataType_t(-1), &x, &x, 1, &x); }),
            tdmInvalidArgument);
  // Count 0 touches nothing, not even null pointers.
  tdm::host::reduce(tdmFloat64, ReduceOp::kSum, nullptr, nullptr, nullptr, 0);
  tdm::host::scale(tdmInt8, nullptr, nullptr, 0, &x);
  tdm::host::divide(tdmFloat16, nullptr, 0, 3);
}

TEST(Dtype, SizesNamesAndOps) {
  const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  const char* names[] = {"int8", "uint8", "int32",  "uint32",   "int64",  "uint64",
                         "half", "float", "double", "bfloat16", "f8e4m3", "f8e5m2"};
  for (int t = 0; t < tdmNumTypes; ++t) {
    EXPECT_TRUE(tdm::is_valid_type(t));
    EXPECT_EQ(tdm::type_size(tdmDataType_t(t)), sizes[t]);
    EXPECT_STREQ(tdm::type_name(tdmDataType_t(t)), names[t]);
    EXPECT_EQ(tdm::is_floating(tdmDataType_t(t)), t >= tdmFloat16) << t;
  }
  EXPECT_FALSE(tdm::is_valid_type(-1));
  EXPECT_FALSE(tdm::is_valid_type(tdmNumTypes));
  EXPECT_STREQ(tdm::op_name(tdmSum), "sum");
  EXPECT_STREQ(tdm::op_name(tdmProd), "prod");
  EXPECT_STREQ(tdm::op_name(tdmMax), "max");
  EXPECT_STREQ(tdm::op_name(tdmMin), "min");
  EXPECT_STREQ(tdm::op_name(tdmAvg), "avg");
  EXPECT_STREQ(tdm::op_name(tdmNumOps), "premulsum");
  EXPECT_STREQ(tdm::op_name(tdmNumOps + 3), "premulsum");
}

}  // namespace
