// Host reduction kernels against a double-precision (or exact integer)
// reference on fresh random data: reduce for every type and op, premulsum
// scaling, avg division, in place and out of place, odd counts.
#include "collectives/host/reduce_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "util/dtype.h"
#include "util/numeric_types.h"

namespace {

using tdm::host::ReduceOp;

// Element i of a typed buffer as double, and storing a double with the type's rounding.
double load(tdmDataType_t t, const std::vector<std::byte>& buf, size_t i) {
  const std::byte* p = buf.data() + i * tdm::type_size(t);
  auto get = [&](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t) {
    case tdmInt8:
      return get(int8_t{});
    case tdmUint8:
      return get(uint8_t{});
    case tdmInt32:
      return get(int32_t{});
    case tdmUint32:
      return get(uint32_t{});
    case tdmInt64:
      return double(get(int64_t{}));
    case tdmUint64:
      return double(get(uint64_t{}));
    case tdmFloat16:
      return get(tdm::half_t{}).to_float();
    case tdmFloat32:
      return get(float{});
    case tdmFloat64:
      return get(double{});
    case tdmBfloat16:
      return get(tdm::bfloat16_t{}).to_float();
    case tdmFloat8e4m3:
      return get(tdm::fp8e4m3_t{}).to_float();
    case tdmFloat8e5m2:
      return get(tdm::fp8e5m2_t{}).to_float();
    default:
      return 0;
  }
}

// Rounds a double the way a value of type t stores it (narrow floats via float, RNE).
double round_to(tdmDataType_t t, double v) {
  switch (t) {
    case tdmFloat16:
      return tdm::half_t::from_float(float(v)).to_float();
    case tdmBfloat16:
      return tdm::bfloat16_t::from_float(float(v)).to_float();
    case tdmFloat8e4m3:
      return tdm::fp8e4m3_t::from_float(float(v)).to_float();
    case tdmFloat8e5m2:
      return tdm::fp8e5m2_t::from_float(float(v)).to_float();
    case tdmFloat32:
      return float(v);
    default:
      return v;
  }
}

void store(tdmDataType_t t, std::vector<std::byte>& buf, size_t i, double v) {
  std::byte* p = buf.data() + i * tdm::type_size(t);
  auto put = [&](auto x) { std::memcpy(p, &x, sizeof(x)); };
  switch (t) {
    case tdmInt8:
      put(int8_t(v));
      break;
    case tdmUint8:
      put(uint8_t(v));
      break;
    case tdmInt32:
      put(int32_t(v));
      break;
    case tdmUint32:
      put(uint32_t(v));
      break;
    case tdmInt64:
      put(int64_t(v));
      break;
    case tdmUint64:
      put(uint64_t(v));
      break;
    case tdmFloat16:
      put(tdm::half_t::from_float(float(v)));
      break;
    case tdmFloat32:
      put(float(v));
      break;
    case tdmFloat64:
      put(v);
      break;
    case tdmBfloat16:
      put(tdm::bfloat16_t::from_float(float(v)));
      break;
    case tdmFloat8e4m3:
      put(tdm::fp8e4m3_t::from_float(float(v)));
      break;
    case tdmFloat8e5m2:
      put(tdm::fp8e5m2_t::from_float(float(v)));
      break;
    default:
      break;
  }
}

// Integer results wrap: reduce a double reference modulo the type's range.
double wrap(tdmDataType_t t, long double v) {
  auto mod = [&](long double range, bool is_signed) {
    long double r = std::fmod(v, range);
    if (r < 0) r += range;
    if (is_signed && r >= range / 2) r -= range;
    return double(r);
  };
  switch (t) {
    case tdmInt8:
      return mod(256.0L, true);
    case tdmUint8:
      return mod(256.0L, false);
    case tdmInt32:
      return mod(4294967296.0L, true);
    case tdmUint32:
      return mod(4294967296.0L, false);
    default:
      return double(v);
  }
}

class ReduceKernels : public ::testing::TestWithParam<int> {
 protected:
  std::mt19937_64 rng{std::random_device{}()};
  // Small integers (so 64-bit products stay exact in long double) or values near 1.
  std::vector<std::byte> random_buffer(tdmDataType_t t, size_t n, bool for_prod) {
    std::vector<std::byte> buf(n * tdm::type_size(t));
    std::uniform_int_distribution<int> ints(-100, 100);
    std::uniform_real_distribution<double> reals(for_prod ? 0.5 : -8, for_prod ? 2 : 8);
    for (size_t i = 0; i < n; ++i) {
      double v = tdm::is_floating(t) ? reals(rng) : double(ints(rng));
      if ((t == tdmUint8 || t == tdmUint32 || t == tdmUint64) && v < 0) v = -v;
      store(t, buf, i, v);
    }
    return buf;
  }
};

TEST_P(ReduceKernels, EveryOpMatchesTheReference) {
  const auto t = static_cast<tdmDataType_t>(GetParam());
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(4099)}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kProd, ReduceOp::kMax, ReduceOp::kMin}) {
      auto a = random_buffer(t, n, op == ReduceOp::kProd);
      auto b = random_buffer(t, n, op == ReduceOp::kProd);
      std::vector<std::byte> out(a.size() + 16, std::byte{0xab});
      tdm::host::reduce(t, op, out.data(), a.data(), b.data(), n);
      for (size_t k = a.size(); k < out.size(); ++k) ASSERT_EQ(out[k], std::byte{0xab});
      out.resize(a.size());
      for (size_t i = 0; i < n; ++i) {
        long double x = load(t, a, i), y = load(t, b, i), r;
        switch (op) {
          case ReduceOp::kSum:
            r = x + y;
            break;
          case ReduceOp::kProd:
            r = x * y;
            break;
          case ReduceOp::kMax:
            r = std::max(x, y);
            break;
          default:
            r = std::min(x, y);
            break;
        }
        // Float inputs multiply exactly in long double; doubles round once in double.
        if (t == tdmFloat64)
          r = op == ReduceOp::kSum    ? double(x) + double(y)
              : op == ReduceOp::kProd ? double(x) * double(y)
                                      : r;
        double want = tdm::is_floating(t) ? round_to(t, double(r)) : wrap(t, r);
        ASSERT_EQ(load(t, out, i), want) << tdm::type_name(t) << " op " << int(op) << " i " << i;
      }
      // In place: dst aliases a.
      auto in_place = a;
      tdm::host::reduce(t, op, in_place.data(), in_place.data(), b.data(), n);
      ASSERT_EQ(in_place, out);
    }
  }
}

TEST_P(ReduceKernels, ScaleAndDivideMatchTheReference) {
  const auto t = static_cast<tdmDataType_t>(GetParam());
  const size_t n = 1001;
  auto src = random_buffer(t, n, false);
  std::vector<std::byte> scalar_buf(8);
  const double scalar_value = tdm::is_floating(t) ? 0.375 : 3;
  store(t, scalar_buf, 0, scalar_value);
  std::vector<std::byte> out(src.size());
  tdm::host::scale(t, out.data(), src.data(), n, scalar_buf.data());
  for (size_t i = 0; i < n; ++i) {
    long double r = static_cast<long double>(load(t, src, i)) * scalar_value;
    double want = tdm::is_floating(t) ? round_to(t, double(r)) : wrap(t, r);
    ASSERT_EQ(load(t, out, i), want) << tdm::type_name(t) << " scale i " << i;
  }
  auto divided = src;
  tdm::host::divide(t, divided.data(), n, 3);
  for (size_t i = 0; i < n; ++i) {
    double x = load(t, src, i);
    double want = tdm::is_floating(t)
                      ? round_to(t, t == tdmFloat64 ? x / 3 : double(float(x) / 3.0f))
                      : std::trunc(x / 3);
    ASSERT_EQ(load(t, divided, i), want) << tdm::type_name(t) << " divide i " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ReduceKernels, ::testing::Range(0, int(tdmNumTypes)),
                         [](const auto& info) {
                           return std::string(tdm::type_name(tdmDataType_t(info.param)));
                         });

}  // namespace
