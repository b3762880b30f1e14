// Deterministic test data: counter-based hashes of (seed, rank, index, ...),
// so any rank can regenerate any rank's input and needs no transfer to know
// what it must receive.
#ifndef TANDEM_TESTS_COMMON_SEEDED_DATA_H_
#define TANDEM_TESTS_COMMON_SEEDED_DATA_H_

#include <cstdint>

#include "tandem/tandem.h"
#include "tests/common/host_device.h"

namespace tdm::test {

// One splitmix64 step (the golden-ratio increment, then its finalizer): the
// perf tools' and shmem_perf's hash.
TDM_TEST_HD constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// MurmurHash3's 64-bit finalizer: the mp and gpu tests' hash. Kept apart from
// mix64 (not merged into it) so that every test keeps the data it had.
TDM_TEST_HD constexpr uint64_t fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

// Float inputs of reductions draw integers from [-exact_range, exact_range]:
// their sums over up to 8 ranks (the engines' limit) are exact in the type
// (8 * range <= the type's largest exact integer), whatever the order.
constexpr int exact_range(tdmDataType_t t) {
  switch (t) {
    case tdmFloat16:
      return 100;
    case tdmBfloat16:
      return 16;
    case tdmFloat8e4m3:
      return 2;
    case tdmFloat8e5m2:
      return 1;
    default:
      return 1000;
  }
}

// Factors of float products: powers of two and their negatives, so products
// over any number of ranks are exact.
inline constexpr double kProductFactors[] = {-2, -1, -0.5, 0.5, 1, 2};
inline constexpr int kNumProductFactors = 6;

// The float reduction input that hash `h` selects: a product factor, or an
// integer in [-exact_range(t), exact_range(t)].
constexpr double reduction_value(tdmDataType_t t, bool product, uint64_t h) {
  if (product) return kProductFactors[h % kNumProductFactors];
  const int range = exact_range(t);
  return static_cast<double>(static_cast<int64_t>(h % static_cast<uint64_t>(2 * range + 1)) -
                             range);
}

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_SEEDED_DATA_H_
