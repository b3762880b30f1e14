// Narrow floating-point formats as raw bits, with exact widening to float and
// round-to-nearest-even narrowing. Host and device (CUDA) code share these.
//   fp16  IEEE binary16; overflow -> inf
//   bf16  upper half of binary32; overflow -> inf
//   e4m3  OCP FP8 "FN": bias 7, max 448, no inf, NaN = S.1111.111; saturates
//   e5m2  OCP FP8: bias 15, IEEE-like inf/NaN, max 57344; saturates
// The fp8 narrowing saturates finite overflow and infinities to the largest
// finite value, like CUDA's __NV_SATFINITE conversions that NCCL uses.
// The conversions have no branches on data (selects only), so loops over
// arrays of them vectorize. Where a float operation's result is used it is a
// normal float, so FTZ/DAZ modes cannot change results; the default
// round-to-nearest mode is assumed.
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define TDM_HOST_DEVICE __host__ __device__
#else
#define TDM_HOST_DEVICE
#endif

// The conversions are large enough that GCC would otherwise call them out of
// line inside element loops, which then neither vectorize nor run fast.
#if defined(__CUDACC__)
#define TDM_NUMERIC_INLINE __forceinline__
#elif defined(__GNUC__)
#define TDM_NUMERIC_INLINE inline __attribute__((always_inline))
#else
#define TDM_NUMERIC_INLINE inline
#endif

namespace tdm {

namespace numeric_detail {

TDM_HOST_DEVICE TDM_NUMERIC_INLINE uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}
TDM_HOST_DEVICE TDM_NUMERIC_INLINE float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// c ? a : b as bit operations; GCC turns some ?: into jumps, which stop loop
// vectorization and, around float operations, are not if-converted back.
TDM_HOST_DEVICE TDM_NUMERIC_INLINE uint32_t select_bits(bool c, uint32_t a, uint32_t b) {
  return b ^ ((a ^ b) & (0u - static_cast<uint32_t>(c)));
}

// Narrows a float to a format with kMant mantissa bits, kExpBits exponent
// bits and bias kBias, rounding to nearest even.
// kMaxBits is the code (without sign) of the largest finite value; kSaturate
// clamps overflow and infinities there, else they become infinity (all-ones
// exponent, zero mantissa). NaN gives kNanBits.
template <int kMant, int kExpBits, int kBias, uint32_t kMaxBits, bool kSaturate, uint32_t kNanBits>
TDM_HOST_DEVICE TDM_NUMERIC_INLINE uint32_t narrow(float value) {
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
  // Subnormal result (below the smallest normal): adding the power of two
  // whose float ulp is the target's subnormal step makes the float adder round
  // there (to nearest even); the low bits are then the code. Computed for every
  // input and chosen with selects: a conditional float op keeps GCC from
  // vectorizing (-ftrapping-math forbids speculating it).
  constexpr uint32_t kMagic = (127u + 1u - kBias - kMant + 23u) << 23;
  const uint32_t subnormal = float_bits(bits_float(abs) + bits_float(kMagic)) - kMagic;
  uint32_t result = select_bits(e >= kMinNormal, normal, subnormal);
  result = select_bits(result > kMaxBits, kOverflow, result);  // includes infinity
  result = select_bits(abs > 0x7f800000u, kNanBits, result);
  return sign | result;
}

// Exact widening of a code with the given layout.
// kNanMask: a code whose bits under the mask are all set is NaN (e4m3's
// S.1111.111); 0 for IEEE-like formats, whose all-ones exponent is inf/NaN.
template <int kMant, int kExpBits, int kBias, bool kHasInf, uint32_t kNanMask>
TDM_HOST_DEVICE TDM_NUMERIC_INLINE float widen(uint32_t code) {
  const uint32_t sign = ((code >> (kMant + kExpBits)) & 1u) << 31;
  const uint32_t exp_field = (code >> kMant) & ((1u << kExpBits) - 1);
  const uint32_t frac = code & ((1u << kMant) - 1);
  constexpr uint32_t kExpMax = (1u << kExpBits) - 1;
  const uint32_t normal = ((exp_field + (127u - kBias)) << 23) | (frac << (23 - kMant));
  // Subnormal: frac * step, as (magic + frac * step) - magic where step is the
  // float ulp of the power of two magic; exact, and a normal float (or +0).
  constexpr uint32_t kMagic = (127u + 1u - kBias - kMant + 23u) << 23;
  const uint32_t subnormal = float_bits(bits_float(kMagic | frac) - bits_float(kMagic));
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

  TDM_HOST_DEVICE TDM_NUMERIC_INLINE static half_t from_float(float f) {
    return {static_cast<uint16_t>(numeric_detail::narrow<10, 5, 15, 0x7bffu, false, 0x7e00u>(f))};
  }
  TDM_HOST_DEVICE TDM_NUMERIC_INLINE float to_float() const {
    return numeric_detail::widen<10, 5, 15, true, 0>(bits);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

// Upper half of binary32: narrowing is a rounding add on the float's bits.
struct bfloat16_t {
  uint16_t bits;

  TDM_HOST_DEVICE TDM_NUMERIC_INLINE static bfloat16_t from_float(float f) {
    const uint32_t u = numeric_detail::float_bits(f);
    // Round half to even at bit 16; overflow carries into the infinity code.
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    // NaN: truncate and force the quiet bit, so a payload in the low half cannot vanish.
    const uint32_t nan = (u >> 16) | 0x40u;
    return {static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded)};
  }
  TDM_HOST_DEVICE TDM_NUMERIC_INLINE float to_float() const {
    return numeric_detail::bits_float(static_cast<uint32_t>(bits) << 16);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

struct fp8e4m3_t {
  uint8_t bits;

  TDM_HOST_DEVICE TDM_NUMERIC_INLINE static fp8e4m3_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow<3, 4, 7, 0x7eu, true, 0x7fu>(f))};
  }
  TDM_HOST_DEVICE TDM_NUMERIC_INLINE float to_float() const {
    return numeric_detail::widen<3, 4, 7, false, 0x7fu>(bits);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

struct fp8e5m2_t {
  uint8_t bits;

  TDM_HOST_DEVICE TDM_NUMERIC_INLINE static fp8e5m2_t from_float(float f) {
    return {static_cast<uint8_t>(numeric_detail::narrow<2, 5, 15, 0x7bu, true, 0x7eu>(f))};
  }
  TDM_HOST_DEVICE TDM_NUMERIC_INLINE float to_float() const {
    return numeric_detail::widen<2, 5, 15, true, 0>(bits);
  }
  TDM_HOST_DEVICE explicit operator float() const { return to_float(); }
};

static_assert(sizeof(half_t) == 2 && sizeof(bfloat16_t) == 2);
static_assert(sizeof(fp8e4m3_t) == 1 && sizeof(fp8e5m2_t) == 1);

}  // namespace tdm
