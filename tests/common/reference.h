// Reductions over every rank's input computed on the CPU, as the library
// defines them: rank order; premulsum scales each rank's own input by its
// scalar, then sums; avg divides the sum (integers: the wrapped sum,
// truncated toward zero). Integers reduce exactly in the type's wraparound
// arithmetic; floats accumulate in double, and each test states the tolerance
// it allows around that value (from `magnitude`, the sum of |input|).
#ifndef TANDEM_TESTS_COMMON_REFERENCE_H_
#define TANDEM_TESTS_COMMON_REFERENCE_H_

#include <cmath>
#include <cstdint>

#include "tandem/tandem.h"
#include "tests/common/types.h"

namespace tdm::test {

// Ops are tdmRedOp_t values (tdmSum .. tdmAvg) or kPreMulSum.
inline constexpr int kPreMulSum = tdmNumOps;

// Element-wise reduction of raw integer bits over n ranks: input(r) gives
// rank r's element, scalar(r) its premulsum scalar (called for kPreMulSum only).
template <typename Input, typename Scalar>
uint64_t reduce_int(tdmDataType_t t, int op, int n, Input&& input, Scalar&& scalar) {
  uint64_t acc = 0;
  for (int r = 0; r < n; ++r) {
    uint64_t x = truncate(t, input(r));
    if (op == kPreMulSum) x = truncate(t, x * static_cast<uint64_t>(scalar(r)));
    if (r == 0) {
      acc = x;
      continue;
    }
    switch (op) {
      case tdmProd:
        acc = truncate(t, acc * x);
        break;
      case tdmMax:
      case tdmMin: {
        const bool greater = is_signed_int(t) ? sign_extend(t, x) > sign_extend(t, acc) : x > acc;
        if (greater == (op == tdmMax)) acc = x;
        break;
      }
      default:  // sum, avg, premulsum
        acc = truncate(t, acc + x);
    }
  }
  if (op == tdmAvg) {
    acc = is_signed_int(t) ? truncate(t, static_cast<uint64_t>(sign_extend(t, acc) / n))
                           : acc / static_cast<uint64_t>(n);
  }
  return acc;
}

struct FloatReduction {
  double value = 0;      // the op's result in double (avg: sum / n)
  double sum = 0;        // sum, avg, premulsum: the sum before any division
  double magnitude = 0;  // sum of |term| over the ranks (terms after premulsum scaling)
};

// Element-wise reduction of float values over n ranks in double: term(r)
// gives rank r's value, already multiplied by its scalar for kPreMulSum.
template <typename Term>
FloatReduction reduce_float(int op, int n, Term&& term) {
  FloatReduction out;
  double acc = 0;
  for (int r = 0; r < n; ++r) {
    const double x = term(r);
    out.magnitude += std::fabs(x);
    if (r == 0) {
      acc = x;
    } else if (op == tdmProd) {
      acc *= x;
    } else if (op == tdmMax) {
      acc = acc < x ? x : acc;
    } else if (op == tdmMin) {
      acc = x < acc ? x : acc;
    } else {
      acc += x;
    }
  }
  out.sum = acc;
  out.value = op == tdmAvg ? acc / n : acc;
  return out;
}

// An element's bits against a float reference: within `tol` of `want`
// (tol 0: equal); NaN never matches.
inline bool near(tdmDataType_t t, uint64_t bits, double want, double tol) {
  const double got = decode(t, bits);
  if (std::isnan(got)) return false;
  return tol == 0 ? got == want : std::fabs(got - want) <= tol;
}

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_REFERENCE_H_
