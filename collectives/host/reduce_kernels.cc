#include "collectives/host/reduce_kernels.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "util/error.h"
#include "util/numeric_types.h"

namespace tdm::host {

namespace {

// Math type and conversions per storage type: narrow floats widen to float.
template <typename T>
struct Traits {
  using Math = T;
  static Math load(T v) { return v; }
  static T store(Math v) { return v; }
};
// always_inline: GCC's inliner gives up on these inside the many kernel
// instantiations, and a call per element costs vectorization.
template <typename N>
struct NarrowTraits {
  using Math = float;
  [[gnu::always_inline]] static float load(N v) { return v.to_float(); }
  [[gnu::always_inline]] static N store(float v) { return N::from_float(v); }
};
template <>
struct Traits<half_t> : NarrowTraits<half_t> {};
template <>
struct Traits<bfloat16_t> : NarrowTraits<bfloat16_t> {};
template <>
struct Traits<fp8e4m3_t> : NarrowTraits<fp8e4m3_t> {};
template <>
struct Traits<fp8e5m2_t> : NarrowTraits<fp8e5m2_t> {};

// Integer arithmetic wraps: do it in the unsigned type of the same width
// (widened to unsigned int so that small types are not promoted to signed int).
template <typename M>
M add(M a, M b) {
  if constexpr (std::is_integral_v<M>) {
    using U = std::make_unsigned_t<M>;
    return static_cast<M>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename M>
M mul(M a, M b) {
  if constexpr (std::is_integral_v<M>) {
    using U = std::make_unsigned_t<M>;
    using W = std::conditional_t<(sizeof(U) < sizeof(unsigned)), unsigned, U>;
    return static_cast<M>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b)));
  } else {
    return a * b;
  }
}
// fmax/fmin semantics (a NaN operand is ignored) as a select, so loops vectorize;
// std::fmax is a libm call at baseline x86-64.
template <typename M>
M max_of(M a, M b) {
  if constexpr (std::is_floating_point_v<M>)
    return ((a > b) | (b != b)) ? a : b;
  else
    return a > b ? a : b;
}
template <typename M>
M min_of(M a, M b) {
  if constexpr (std::is_floating_point_v<M>)
    return ((a < b) | (b != b)) ? a : b;
  else
    return a < b ? a : b;
}

template <typename T, ReduceOp Op>
[[gnu::always_inline]] inline T combine(T a, T b) {
  using Tr = Traits<T>;
  const auto x = Tr::load(a), y = Tr::load(b);
  if constexpr (Op == ReduceOp::kSum)
    return Tr::store(add(x, y));
  else if constexpr (Op == ReduceOp::kProd)
    return Tr::store(mul(x, y));
  else if constexpr (Op == ReduceOp::kMax)
    return Tr::store(max_of(x, y));
  else
    return Tr::store(min_of(x, y));
}

// One loop per aliasing pattern, each with restrict pointers, so the compiler
// vectorizes without runtime overlap checks.
template <typename T, ReduceOp Op>
void reduce_disjoint(T* __restrict d, const T* __restrict x, const T* __restrict y, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = combine<T, Op>(x[i], y[i]);
}
template <typename T, ReduceOp Op>
void reduce_into_a(T* __restrict d, const T* __restrict y, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = combine<T, Op>(d[i], y[i]);
}
template <typename T, ReduceOp Op>
void reduce_into_b(T* __restrict d, const T* __restrict x, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = combine<T, Op>(x[i], d[i]);
}
template <typename T, ReduceOp Op>
void reduce_self(T* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = combine<T, Op>(d[i], d[i]);
}

template <typename T, ReduceOp Op>
void reduce_loop(void* dst, const void* a, const void* b, size_t n) {
  auto* d = static_cast<T*>(dst);
  auto* x = static_cast<const T*>(a);
  auto* y = static_cast<const T*>(b);
  if (d == x && d == y)
    reduce_self<T, Op>(d, n);
  else if (d == x)
    reduce_into_a<T, Op>(d, y, n);
  else if (d == y)
    reduce_into_b<T, Op>(d, x, n);
  else
    reduce_disjoint<T, Op>(d, x, y, n);  // x == y is fine: neither is written
}

template <typename T>
void reduce_typed(ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  switch (op) {
    case ReduceOp::kSum:
      return reduce_loop<T, ReduceOp::kSum>(dst, a, b, n);
    case ReduceOp::kProd:
      return reduce_loop<T, ReduceOp::kProd>(dst, a, b, n);
    case ReduceOp::kMax:
      return reduce_loop<T, ReduceOp::kMax>(dst, a, b, n);
    case ReduceOp::kMin:
      return reduce_loop<T, ReduceOp::kMin>(dst, a, b, n);
  }
  throw_error(tdmInvalidArgument, "reduction kernel op ", static_cast<int>(op), " is invalid");
}

template <typename T>
void scale_disjoint(T* __restrict d, const T* __restrict x, size_t n, typename Traits<T>::Math s) {
  using Tr = Traits<T>;
  for (size_t i = 0; i < n; ++i) d[i] = Tr::store(mul(Tr::load(x[i]), s));
}
template <typename T>
void scale_in_place(T* d, size_t n, typename Traits<T>::Math s) {
  using Tr = Traits<T>;
  for (size_t i = 0; i < n; ++i) d[i] = Tr::store(mul(Tr::load(d[i]), s));
}

template <typename T>
void scale_typed(void* dst, const void* src, size_t n, const void* scalar) {
  T raw;
  std::memcpy(&raw, scalar, sizeof(T));  // the scalar may be unaligned
  const auto s = Traits<T>::load(raw);
  auto* d = static_cast<T*>(dst);
  auto* x = static_cast<const T*>(src);
  if (d == x)
    scale_in_place<T>(d, n, s);
  else
    scale_disjoint<T>(d, x, n, s);
}

template <typename T>
void divide_typed(void* data, size_t n, int divisor) {
  auto* d = static_cast<T*>(data);
  if constexpr (std::is_integral_v<T>) {
    // Divide in at least 32 bits of the element's signedness: the divisor
    // (a rank count) may not fit the element type.
    using W = std::conditional_t<std::is_signed_v<T>,
                                 std::conditional_t<(sizeof(T) <= 4), int32_t, int64_t>,
                                 std::conditional_t<(sizeof(T) <= 4), uint32_t, uint64_t>>;
    const W by = static_cast<W>(divisor);
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(static_cast<W>(d[i]) / by);
  } else {
    using Tr = Traits<T>;
    using M = typename Tr::Math;
    const M by = static_cast<M>(divisor);
    for (size_t i = 0; i < n; ++i) d[i] = Tr::store(Tr::load(d[i]) / by);
  }
}

// Calls f.template operator()<T>() with T the storage type of `type`.
template <typename F>
void dispatch(tdmDataType_t type, F&& f) {
  switch (type) {
    case tdmInt8:
      return f.template operator()<int8_t>();
    case tdmUint8:
      return f.template operator()<uint8_t>();
    case tdmInt32:
      return f.template operator()<int32_t>();
    case tdmUint32:
      return f.template operator()<uint32_t>();
    case tdmInt64:
      return f.template operator()<int64_t>();
    case tdmUint64:
      return f.template operator()<uint64_t>();
    case tdmFloat16:
      return f.template operator()<half_t>();
    case tdmFloat32:
      return f.template operator()<float>();
    case tdmFloat64:
      return f.template operator()<double>();
    case tdmBfloat16:
      return f.template operator()<bfloat16_t>();
    case tdmFloat8e4m3:
      return f.template operator()<fp8e4m3_t>();
    case tdmFloat8e5m2:
      return f.template operator()<fp8e5m2_t>();
    default:
      throw_error(tdmInvalidArgument, "datatype ", static_cast<int>(type), " is invalid");
  }
}

}  // namespace

void reduce(tdmDataType_t type, ReduceOp op, void* dst, const void* a, const void* b,
            size_t count) {
  dispatch(type, [&]<typename T>() { reduce_typed<T>(op, dst, a, b, count); });
}

void scale(tdmDataType_t type, void* dst, const void* src, size_t count, const void* scalar) {
  dispatch(type, [&]<typename T>() { scale_typed<T>(dst, src, count, scalar); });
}

void divide(tdmDataType_t type, void* data, size_t count, int divisor) {
  if (divisor < 1) throw_error(tdmInvalidArgument, "average divisor ", divisor, " is not positive");
  dispatch(type, [&]<typename T>() { divide_typed<T>(data, count, divisor); });
}

}  // namespace tdm::host
