// Calls f(Tag<T>{}) for the element type of a tdmDataType_t, and
// f(Red<R>{}) for a reduction kind: one place maps run-time enums to templates.
#pragma once

#include <cstdint>
#include <type_traits>

#include "collectives/cuda/dev_comm.h"
#include "util/numeric_types.h"

namespace tdm::cuda {

template <typename T>
struct Tag {
  using type = T;
};
template <RedKind R>
struct Red {
  static constexpr RedKind value = R;
};

template <typename F>
auto dispatch_type(int type, F&& f) {
  switch (type) {
    case 0:
      return f(Tag<int8_t>{});
    case 1:
      return f(Tag<uint8_t>{});
    case 2:
      return f(Tag<int32_t>{});
    case 3:
      return f(Tag<uint32_t>{});
    case 4:
      return f(Tag<int64_t>{});
    case 5:
      return f(Tag<uint64_t>{});
    case 6:
      return f(Tag<half_t>{});
    case 7:
      return f(Tag<float>{});
    case 8:
      return f(Tag<double>{});
    case 9:
      return f(Tag<bfloat16_t>{});
    case 10:
      return f(Tag<fp8e4m3_t>{});
    default:
      return f(Tag<fp8e5m2_t>{});
  }
}

template <typename F>
auto dispatch_red(RedKind red, F&& f) {
  switch (red) {
    case RedKind::kSum:
      return f(Red<RedKind::kSum>{});
    case RedKind::kProd:
      return f(Red<RedKind::kProd>{});
    case RedKind::kMax:
      return f(Red<RedKind::kMax>{});
    default:
      return f(Red<RedKind::kMin>{});
  }
}

}  // namespace tdm::cuda
