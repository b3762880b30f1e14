// Narrow floating-point formats as raw bits, with exact widening to float and
// round-to-nearest-even narrowing. Host and device (CUDA) code share these.
//   fp16  IEEE binary16; overflow -> inf
//   bf16  upper half of binary32; overflow -> inf
//   e4m3  OCP FP8 "FN": bias 7, max 448, no inf, NaN = S.1111.111; saturates
//   e5m2  OCP FP8: bias 15, IEEE-like inf/NaN, max 57344; saturates
// The fp8 narrowing saturates finite overflow and infinities to the largest
// finite value, like CUDA's __NV_SATFINITE conversions that NCCL uses.
// The conversions use integer operations and selects only, so loops over
// arrays of them vectorize and FTZ/DAZ float modes cannot change results.
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
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}
TDM_HOST_DEVICE inline float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// c ? a : b without a branch; GCC otherwise turns some selects into jumps
// that stop loop vectorization.
TDM_HOST_DEVICE inline uint32_t select_bits(bool c, uint32_t a, uint32_t b) {
  return b ^ ((a ^ b) & (0u - static_cast<uint32_t>(c)));
}

// One step of a right shift by a per-element amount r, written as conditional
// constant shifts (baseline x86-64 SIMD has no per-element variable shifts, so
// this form vectorizes): if r has bit K, drop K bits of x into sticky.
template <uint32_t K>
TDM_HOST_DEVICE inline uint32_t shift_step(uint32_t x, uint32_t r, uint32_t& sticky) {
  const bool take = (r & K) != 0;
  sticky |= (take && (x & ((1u << K) - 1)) != 0) ? 1u : 0u;
  return take ? x >> K : x;
}
// x >> r with the dropped bits OR-ed into sticky, for r <= kMaxR < 16.
template <int kMaxR>
TDM_HOST_DEVICE inline uint32_t shift_right_sticky(uint32_t x, uint32_t r, uint32_t& sticky) {
  if constexpr (kMaxR >= 8) x = shift_step<8>(x, r, sticky);
  if constexpr (kMaxR >= 4) x = shift_step<4>(x, r, sticky);
  if constexpr (kMaxR >= 2) x = shift_step<2>(x, r, sticky);
  return shift_step<1>(x, r, sticky);
}

// One step of normalizing a nonzero subnormal fraction: shift left by K if the
// leading one stays at or below bit kMant.
template <int kMant, uint32_t K>
TDM_HOST_DEVICE inline uint32_t normalize_step(uint32_t x, uint32_t& shift) {
  const bool take = x < (1u << (kMant + 1 - K));
  shift += take ? K : 0u;
  return take ? x << K : x;
}

// Narrows a float to a format with kMant mantissa bits, kExpBits exponent
// bits and bias kBias, rounding to nearest even, with integer operations only
// (no branches on data, so loops over it vectorize; exact under FTZ/DAZ).
// kMaxBits is the code (without sign) of the largest finite value; kSaturate
// clamps overflow and infinities there, else they become infinity (all-ones
// exponent, zero mantissa). NaN gives kNanBits.
template <int kMant, int kExpBits, int kBias, uint32_t kMaxBits, bool kSaturate, uint32_t kNanBits>
TDM_HOST_DEVICE inline uint32_t narrow(float value) {
  const uint32_t u = float_bits(value);
  const uint32_t sign = (u >> 31) << (kMant + kExpBits);
  const uint32_t abs = u & 0x7fffffffu;
  const uint32_t e = abs >> 23;      // biased float exponent
  constexpr int kDrop = 23 - kMant;  // significand bits dropped for a normal result
  constexpr uint32_t kInfBits = ((1u << kExpBits) - 1) << kMant;
  constexpr uint32_t kOverflow = kSaturate ? kMaxBits : kInfBits;
  // Normal result (e >= kMinNormal): rebias the exponent in place and round at
  // bit kDrop; adding half-minus-one plus the kept lsb rounds half to even, and
  // a carry bumps the exponent (past the max, it lands on or beyond infinity).
  constexpr uint32_t kMinNormal = 127 - kBias + 1;
  const uint32_t normal =
      (abs - ((127u - kBias) << 23) + ((1u << (kDrop - 1)) - 1) + ((abs >> kDrop) & 1u)) >> kDrop;
  // Subnormal result: the 24-bit significand shifts right by kDrop + 1 +
  // (kMinNormal - 1 - e); below kMinNormal - kMant - 2 everything rounds to 0.
  // Shift all but one bit with sticky, then round on the last bit.
  constexpr uint32_t kMinSub = kMinNormal - kMant - 2;
  const uint32_t significand = (abs & 0x7fffffu) | 0x800000u;
  uint32_t sticky = (significand & ((1u << kDrop) - 1)) != 0 ? 1u : 0u;
  const uint32_t extra = kMinNormal - 1 - e;  // 0 ..= kMant + 1 when used
  const uint32_t guarded =
      shift_right_sticky<kMant + 1>(significand >> kDrop, extra, sticky);  // one guard bit left
  const uint32_t kept = guarded >> 1;
  // A subnormal rounding up to 2^kMant is the smallest normal code, as encoded.
  const uint32_t subnormal = kept + ((guarded & 1u) & (sticky | (kept & 1u)));
  uint32_t result = e >= kMinNormal ? normal : (e >= kMinSub ? subnormal : 0u);
  result = result > kMaxBits ? kOverflow : result;  // includes infinity
  result = abs > 0x7f800000u ? kNanBits : result;
  return sign | result;
}

// Exact widening of a code with the given layout, integer operations only.
// kNanMask: a code whose bits under the mask are all set is NaN (e4m3's
// S.1111.111); 0 for IEEE-like formats, whose all-ones exponent is inf/NaN.
template <int kMant, int kExpBits, int kBias, bool kHasInf, uint32_t kNanMask>
TDM_HOST_DEVICE inline float widen(uint32_t code) {
  const uint32_t sign = ((code >> (kMant + kExpBits)) & 1u) << 31;
  const uint32_t exp_field = (code >> kMant) & ((1u << kExpBits) - 1);
  const uint32_t frac = code & ((1u << kMant) - 1);
  constexpr uint32_t kExpMax = (1u << kExpBits) - 1;
  const uint32_t normal = ((exp_field + (127u - kBias)) << 23) | (frac << (23 - kMant));
  // Subnormal: shift the leading one of frac up to bit kMant (a fixed sequence
  // of conditional shifts by 8, 4, 2, 1) and lower the exponent to match.
  uint32_t x = frac, shift = 0;
  if constexpr (kMant >= 8) x = normalize_step<kMant, 8>(x, shift);
  if constexpr (kMant >= 4) x = normalize_step<kMant, 4>(x, shift);
  if constexpr (kMant >= 2) x = normalize_step<kMant, 2>(x, shift);
  x = normalize_step<kMant, 1>(x, shift);
  const uint32_t subnormal = select_bits(
      frac != 0, ((128u - kBias - shift) << 23) | ((x & ((1u << kMant) - 1)) << (23 - kMant)), 0u);
  uint32_t out = select_bits(exp_field == 0, subnormal, normal);
  if constexpr (kHasInf)  // inf, or NaN keeping its payload
    out = select_bits(exp_field == kExpMax, 0x7f800000u | (frac << (23 - kMant)), out);
  if constexpr (kNanMask != 0) out = select_bits((code & kNanMask) == kNanMask, 0x7fc00000u, out);
  return bits_float(out | sign);
}

}  // namespace numeric_detail

// IEEE binary16.
struct half_t {
  uint16_t bits;

  TDM_HOST_DEVICE static half_t from_float(float f) {
    return {static_cast<uint16_t>(numeric_detail::narrow<10, 5, 15, 0x7bffu, false, 0x7e00u>(f))};
  }
  TDM_HOST_DEVICE float to_float() const { return numeric_detail::widen<10, 5, 15, true, 0>(bits); }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

// Upper half of binary32: narrowing is a rounding add on the float's bits.
struct bfloat16_t {
  uint16_t bits;

  TDM_HOST_DEVICE static bfloat16_t from_float(float f) {
    const uint32_t u = numeric_detail::float_bits(f);
    // Round half to even at bit 16; overflow carries into the infinity code.
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    // NaN: truncate and force the quiet bit, so a payload in the low half cannot vanish.
    const uint32_t nan = (u >> 16) | 0x40u;
    return {static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded)};
  }
  TDM_HOST_DEVICE float to_float() const {
    return numeric_detail::bits_float(static_cast<uint32_t>(bits) << 16);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

struct fp8e4m3_t {
  uint8_t bits;

  TDM_HOST_DEVICE static fp8e4m3_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow<3, 4, 7, 0x7eu, true, 0x7fu>(f))};
  }
  TDM_HOST_DEVICE float to_float() const {
    return numeric_detail::widen<3, 4, 7, false, 0x7fu>(bits);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

struct fp8e5m2_t {
  uint8_t bits;

  TDM_HOST_DEVICE static fp8e5m2_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow<2, 5, 15, 0x7bu, true, 0x7eu>(f))};
  }
  TDM_HOST_DEVICE float to_float() const { return numeric_detail::widen<2, 5, 15, true, 0>(bits); }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

static_assert(sizeof(half_t) == 2 && sizeof(bfloat16_t) == 2);
static_assert(sizeof(fp8e4m3_t) == 1 && sizeof(fp8e5m2_t) == 1);

}  // namespace tdm
