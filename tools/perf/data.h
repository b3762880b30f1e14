// The correctness check's data: every rank's inputs generated from (rank,
// index, seed), and each output element compared with a reference computed on
// the CPU from every rank's inputs (README.md, "Correctness check").
#ifndef TANDEM_TOOLS_PERF_DATA_H_
#define TANDEM_TOOLS_PERF_DATA_H_

#include <cstddef>
#include <cstdint>

#include "common.h"
#include "types.h"

namespace tandem::perf {

// The premulsum scalar of `rank`: integers 1..4, floats 0.5..2 (exact in
// every type).
double preMulScalar(const TypeInfo& t, int rank);

// Integer references use the type's wraparound arithmetic and must match
// exactly. Float inputs are small integers exactly representable in the type,
// chosen so that max/min/prod and (where the rank count allows) sums are
// exact in any order; otherwise the tolerance is the error bound of the
// summation in the type's precision.
class DataModel {
 public:
  DataModel(const TypeInfo& t, bool hasOp, int op, int nranks, uint64_t seed);

  // Raw bits of element `i` of `rank`'s input.
  uint64_t input(int rank, size_t i) const;
  // Fills `count` elements of `rank`'s input at `p`.
  void fill(std::byte* p, int rank, size_t count) const;
  // Whether the output element at `out` holds the reference of `src`.
  bool matches(const std::byte* out, Source src) const;

 private:
  enum class Pattern { kCopy, kSum, kAvg, kPreMul, kProd, kMinMax };

  uint64_t hash(int rank, size_t i) const;
  double floatValue(int rank, size_t i) const;
  uint64_t intValue(int rank, size_t i) const;
  uint64_t intReduce(size_t i) const;
  void floatReduce(size_t i, double* ref, double* tol) const;

  const TypeInfo& t_;
  int op_;
  Pattern pattern_;
  int nranks_;
  uint64_t seed_;
  uint64_t mask_ = 0;
  int64_t range_ = 0;
  bool exactSum_ = false;
};

// Timed runs' data. Fills `bytes` at `p` with ones of type t, so timed runs
// never see NaNs or denormals (host memory).
void fillOnes(const TypeInfo& t, std::byte* p, size_t bytes);
// Random values that are never zero, NaN or subnormal (floats: +-[1, 2) in
// eighths), from `seed` (CUDA memory, staged on the host).
void fillRandom(const TypeInfo& t, std::byte* p, size_t count, uint64_t seed);

}  // namespace tandem::perf

#endif  // TANDEM_TOOLS_PERF_DATA_H_
