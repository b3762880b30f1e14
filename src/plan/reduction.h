// What a reduction op means to the kernels of both engines: one of four
// element-wise kinds, plus the avg divisor or the premulsum scale. Plain
// C++17 (nvcc compiles it for the kernels).
#pragma once

#include "tandem/tandem.h"

namespace tdm::plan {

enum class ReduceKind : int { kSum = 0, kProd = 1, kMax = 2, kMin = 3 };

struct ReductionOf {
  ReduceKind kind = ReduceKind::kSum;
  int divisor = 0;      // avg: divide the final result by this (0: none)
  bool premul = false;  // premulsum: scale each rank's input by the op's scalar
};

// `op` as validated by the API: built in, or a live premulsum op (>= tdmNumOps).
constexpr ReductionOf reduction_of(tdmRedOp_t op, int nranks) {
  switch (op) {
    case tdmSum:
      return {ReduceKind::kSum, 0, false};
    case tdmProd:
      return {ReduceKind::kProd, 0, false};
    case tdmMax:
      return {ReduceKind::kMax, 0, false};
    case tdmMin:
      return {ReduceKind::kMin, 0, false};
    case tdmAvg:
      return {ReduceKind::kSum, nranks, false};
    default:
      return {ReduceKind::kSum, 0, true};
  }
}

}  // namespace tdm::plan
