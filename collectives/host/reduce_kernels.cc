#include "collectives/host/reduce_kernels.h"

#include <cmath>
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
template <typename N>
struct NarrowTraits {
  using Math = float;
  static float load(N v) { return v.to_float(); }
  static N store(float v) { return N::from_float(v); }
};
template <>
struct Traits<half_t> : NarrowTraits<half_t> {};
template <>
struct Traits<bfloat16_t> : NarrowTraits<bfloat16_t> {};
template <>
struct Traits<fp8e4m3_t> : NarrowTraits<fp8e4m3_t> {};
template <>
struct Traits<fp8e5m2_t> : NarrowTraits<fp8e5m2_t> {};

// Integer arithmetic wraps: do it in the unsigned type of the same width.
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
    return static_cast<M>(
        static_cast<U>(static_cast<W>(static_cast<U>(a)) * static_cast<W>(static_cast<U>(b))));
  } else {
    return a * b;
  }
}
// fmax/fmin semantics (a NaN operand is ignored), written so loops vectorize.
template <typename M>
M max_of(M a, M b) {
  if constexpr (std::is_floating_point_v<M>)
    return (a > b || b != b) ? a : b;
  else
    return a > b ? a : b;
}
template <typename M>
M min_of(M a, M b) {
  if constexpr (std::is_floating_point_v<M>)
    return (a < b || b != b) ? a : b;
  else
    return a < b ? a : b;
}

template <typename T, ReduceOp Op>
void reduce_loop(T* dst, const T* a, const T* b, size_t n) {
  using Tr = Traits<T>;
  for (size_t i = 0; i < n; ++i) {
    auto x = Tr::load(a[i]), y = Tr::load(b[i]);
    decltype(x) r;
    if constexpr (Op == ReduceOp::kSum)
      r = add(x, y);
    else if constexpr (Op == ReduceOp::kProd)
      r = mul(x, y);
    else if constexpr (Op == ReduceOp::kMax)
      r = max_of(x, y);
    else
      r = min_of(x, y);
    dst[i] = Tr::store(r);
  }
}

template <typename T>
void reduce_typed(ReduceOp op, void* dst, const void* a, const void* b, size_t n) {
  auto* d = static_cast<T*>(dst);
  auto* x = static_cast<const T*>(a);
  auto* y = static_cast<const T*>(b);
  switch (op) {
    case ReduceOp::kSum:
      reduce_loop<T, ReduceOp::kSum>(d, x, y, n);
      break;
    case ReduceOp::kProd:
      reduce_loop<T, ReduceOp::kProd>(d, x, y, n);
      break;
    case ReduceOp::kMax:
      reduce_loop<T, ReduceOp::kMax>(d, x, y, n);
      break;
    case ReduceOp::kMin:
      reduce_loop<T, ReduceOp::kMin>(d, x, y, n);
      break;
  }
}

template <typename T>
void scale_typed(void* dst, const void* src, size_t n, const void* scalar) {
  using Tr = Traits<T>;
  T raw;
  std::memcpy(&raw, scalar, sizeof(T));
  const auto s = Tr::load(raw);
  auto* d = static_cast<T*>(dst);
  auto* x = static_cast<const T*>(src);
  for (size_t i = 0; i < n; ++i) d[i] = Tr::store(mul(Tr::load(x[i]), s));
}

template <typename T>
void divide_typed(void* data, size_t n, int divisor) {
  using Tr = Traits<T>;
  using M = typename Tr::Math;
  auto* d = static_cast<T*>(data);
  const M by = static_cast<M>(divisor);
  for (size_t i = 0; i < n; ++i) d[i] = Tr::store(static_cast<M>(Tr::load(d[i]) / by));
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
  dispatch(type, [&]<typename T>() { divide_typed<T>(data, count, divisor); });
}

}  // namespace tdm::host
