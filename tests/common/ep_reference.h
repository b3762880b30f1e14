// Host reference of expert-parallel dispatch and combine (tandem/ep.h),
// written from the header's definitions with the harness's own codecs, never
// the library's code: the fp8 cast of one row (per-128-channel scale, the
// optional power-of-two rounding), where each (rank, token, k) lands, and the
// combined output in fp32 in top-k order. Used by the GPU test and ep_perf.
#ifndef TANDEM_TESTS_COMMON_EP_REFERENCE_H_
#define TANDEM_TESTS_COMMON_EP_REFERENCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "tests/common/codecs.h"

namespace tdm::test::ep {

inline float bf16_value(uint16_t bits) { return static_cast<float>(decode(kBfloat16Format, bits)); }
inline uint16_t bf16_bits(float v) { return static_cast<uint16_t>(encode(kBfloat16Format, v)); }
inline float e4m3_value(uint8_t bits) { return static_cast<float>(decode(kE4m3Format, bits)); }

inline int scale_groups(int hidden) { return (hidden + 127) / 128; }

// The dequantization scale of one group with largest magnitude `amax`:
// max(amax, 1e-4) / 448, or with `round_scale` the smallest power of two at
// least that (found through log2 in double, apart from the library's bit trick).
inline float dequant_scale(float amax, bool round_scale) {
  const float a = std::max(amax, 1e-4f);
  const float s = a / 448.0f;
  if (!round_scale) return s;
  return std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(static_cast<double>(s)))));
}

// One bf16 row cast to fp8 e4m3 (saturating, nearest-even): `fp8` gets
// `hidden` bytes, `scales` ceil(hidden / 128) dequantization scales. The
// quantizing factor is 448 / amax (or 1 / scale when rounded), as DeepEP.
inline void quantize_row(const uint16_t* row, int hidden, bool round_scale, uint8_t* fp8,
                         float* scales) {
  for (int g = 0; g * 128 < hidden; ++g) {
    const int end = std::min(hidden, (g + 1) * 128);
    float amax = 0.f;
    for (int c = g * 128; c < end; ++c) amax = std::max(amax, std::fabs(bf16_value(row[c])));
    const float scale_inv = dequant_scale(amax, round_scale);
    const float factor = round_scale ? 1.0f / scale_inv : 448.0f / std::max(amax, 1e-4f);
    scales[g] = scale_inv;
    for (int c = g * 128; c < end; ++c)
      fp8[c] = static_cast<uint8_t>(encode(kE4m3Format, bf16_value(row[c]) * factor));
  }
}

// Where a row of dispatch comes from.
struct Source {
  int rank, token, k;
  friend bool operator<(const Source& a, const Source& b) {
    return std::tie(a.rank, a.token, a.k) < std::tie(b.rank, b.token, b.k);
  }
  friend bool operator==(const Source& a, const Source& b) {
    return a.rank == b.rank && a.token == b.token && a.k == b.k;
  }
};

// Whether top-k entry k of a token ([K] indices) is a row: in range and not
// repeating an earlier entry of the token.
inline bool routed(const int64_t* token_idx, int k, int experts) {
  const int64_t e = token_idx[k];
  if (e < 0 || e >= experts) return false;
  for (int j = 0; j < k; ++j)
    if (token_idx[j] == e) return false;
  return true;
}

// The rows expert `expert` receives, by source rank then token then k (the
// order of the set; dispatch's order within a rank is unspecified).
// idx[r] holds rank r's [tokens[r], K] indices.
inline std::vector<Source> rows_of(int expert, const std::vector<std::vector<int64_t>>& idx,
                                   const std::vector<int>& tokens, int K, int experts) {
  std::vector<Source> rows;
  for (size_t r = 0; r < idx.size(); ++r)
    for (int t = 0; t < tokens[r]; ++t)
      for (int k = 0; k < K; ++k)
        if (routed(&idx[r][size_t(t) * K], k, experts) && idx[r][size_t(t) * K + k] == expert)
          rows.push_back({int(r), t, k});
  return rows;
}

// One combined output row: sum over routed k, in k order, of
// fma(weight, y(k), acc) in fp32, rounded to bf16. `y_of(k, out)` fills the
// expert's bf16 output row for entry k.
template <typename RowOf>
void combine_row(const int64_t* token_idx, const float* token_w, int K, int experts, int hidden,
                 RowOf&& y_of, std::vector<uint16_t>& y, uint16_t* out) {
  std::vector<float> acc(size_t(hidden), 0.f);
  for (int k = 0; k < K; ++k) {
    if (!routed(token_idx, k, experts)) continue;
    y_of(k, y);
    for (int c = 0; c < hidden; ++c) acc[c] = std::fma(token_w[k], bf16_value(y[c]), acc[c]);
  }
  for (int c = 0; c < hidden; ++c) out[c] = bf16_bits(acc[c]);
}

}  // namespace tdm::test::ep

#endif  // TANDEM_TESTS_COMMON_EP_REFERENCE_H_
