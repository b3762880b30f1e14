// Narrow floating-point formats as raw bits, with exact widening to float and
// round-to-nearest-even narrowing. Host and device (CUDA) code share these.
//   fp16  IEEE binary16; overflow -> inf
//   bf16  upper half of binary32; overflow -> inf
//   e4m3  OCP FP8 "FN": bias 7, max 448, no inf, NaN = S.1111.111; saturates
//   e5m2  OCP FP8: bias 15, IEEE-like inf/NaN, max 57344; saturates
// The fp8 narrowing saturates finite overflow and infinities to the largest
// finite value, like CUDA's __NV_SATFINITE conversions that NCCL uses.
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define TDM_HOST_DEVICE __host__ __device__
#else
#define TDM_HOST_DEVICE
#endif

namespace tdm {

namespace numeric_detail {

TDM_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}
TDM_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Narrows a finite or special float to a format with `mant` mantissa bits and
// exponent bias `bias`, exponent field width `exp_bits`. `max_bits` is the code
// (without sign) of the largest finite value; `saturate` clamps overflow and
// infinities there, else they become infinity (all-ones exponent, zero
// mantissa). `nan_bits` is the code used for NaN.
TDM_HOST_DEVICE inline uint32_t narrow(float value, int mant, int exp_bits, int bias,
                                       uint32_t max_bits, bool saturate, uint32_t nan_bits) {
  const uint32_t u = float_bits(value);
  const uint32_t sign = (u >> 31) << (mant + exp_bits);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | nan_bits;
  const uint32_t inf_bits = ((1u << exp_bits) - 1) << mant;
  if (abs == 0x7f800000u) return sign | (saturate ? max_bits : inf_bits);
  int exp = static_cast<int>(abs >> 23) - 127;           // unbiased exponent of value
  uint32_t significand = (abs & 0x7fffffu) | 0x800000u;  // 24 bits with hidden one
  if ((abs >> 23) == 0) {                                // float subnormal: far below any target
    exp = -126;
    significand = abs & 0x7fffffu;
  }
  int target_exp = exp + bias;  // biased exponent in the narrow format
  // Bits to drop from the 24-bit significand: normal keeps mant bits after the one.
  int shift = 23 - mant;
  if (target_exp <= 0) shift += 1 - target_exp;  // subnormal in the target
  uint32_t result;
  if (shift > 25) {
    result = 0;  // rounds to zero (below half the smallest subnormal)
  } else {
    uint32_t kept = significand >> shift;
    uint32_t rest = significand & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1))) ++kept;
    if (target_exp <= 0) {
      result = kept;  // subnormal code; a carry into the exponent field is correct
    } else {
      // kept has the hidden one at bit `mant`; carry may bump the exponent.
      result = (static_cast<uint32_t>(target_exp) << mant) + (kept - (1u << mant));
    }
  }
  if (result > max_bits) return sign | (saturate ? max_bits : inf_bits);
  return sign | result;
}

// Widens a code with the given layout to float (exact).
TDM_HOST_DEVICE inline float widen(uint32_t code, int mant, int exp_bits, int bias, bool has_inf,
                                   uint32_t nan_check_mask) {
  const uint32_t sign = (code >> (mant + exp_bits)) & 1u;
  const uint32_t exp_field = (code >> mant) & ((1u << exp_bits) - 1);
  const uint32_t frac = code & ((1u << mant) - 1);
  const uint32_t exp_max = (1u << exp_bits) - 1;
  uint32_t out;
  if (has_inf && exp_field == exp_max) {
    out = frac ? 0x7fc00000u : 0x7f800000u;
  } else if (!has_inf && (code & nan_check_mask) == nan_check_mask) {
    out = 0x7fc00000u;  // e4m3: S.1111.111 is NaN
  } else if (exp_field == 0) {
    if (frac == 0) {
      out = 0;
    } else {  // subnormal: normalize
      int e = 1 - bias;
      uint32_t f = frac;
      while ((f & (1u << mant)) == 0) {
        f <<= 1;
        --e;
      }
      out = (static_cast<uint32_t>(e + 127) << 23) | ((f & ((1u << mant) - 1)) << (23 - mant));
    }
  } else {
    out = (static_cast<uint32_t>(static_cast<int>(exp_field) - bias + 127) << 23) |
          (frac << (23 - mant));
  }
  return bits_float(out | (sign << 31));
}

}  // namespace numeric_detail

struct half_t {
  uint16_t bits;
  TDM_HOST_DEVICE static half_t from_float(float f) {
    return {static_cast<uint16_t>(numeric_detail::narrow(f, 10, 5, 15, 0x7bffu, false, 0x7e00u))};
  }
  TDM_HOST_DEVICE float to_float() const { return numeric_detail::widen(bits, 10, 5, 15, true, 0); }
};

struct bfloat16_t {
  uint16_t bits;
  TDM_HOST_DEVICE static bfloat16_t from_float(float f) {
    uint32_t u = numeric_detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<uint16_t>((u >> 16) | 0x40u)};
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even; overflow carries into inf
    return {static_cast<uint16_t>(u >> 16)};
  }
  TDM_HOST_DEVICE float to_float() const {
    return numeric_detail::bits_float(static_cast<uint32_t>(bits) << 16);
  }
};

struct fp8e4m3_t {
  uint8_t bits;
  TDM_HOST_DEVICE static fp8e4m3_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow(f, 3, 4, 7, 0x7eu, true, 0x7fu))};
  }
  TDM_HOST_DEVICE float to_float() const {
    return numeric_detail::widen(bits, 3, 4, 7, false, 0x7fu);
  }
};

struct fp8e5m2_t {
  uint8_t bits;
  TDM_HOST_DEVICE static fp8e5m2_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow(f, 2, 5, 15, 0x7bu, true, 0x7eu))};
  }
  TDM_HOST_DEVICE float to_float() const { return numeric_detail::widen(bits, 2, 5, 15, true, 0); }
};

}  // namespace tdm
