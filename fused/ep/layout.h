// Where everything of one ep lives: sizes and offsets of its symmetric region
// (the same on every rank), shared by the host class, the kernels and the
// tests. Plain arithmetic, host and device, no CUDA headers: the unit tests
// check it without a GPU.
//
// Symmetric region of one rank (docs/ep.md, "Memory"), two copies of every
// buffer and signal, picked by the parity of the call's epoch. The words
// (signals and flags) come first: they are zeroed when the ep is created.
//   dispatch signals  [2][L][R] u64   (epoch << 32 | rows) written by source rank r
//   combine signals   [2][R]    u64   epoch, written by rank r when its combine send starts
//   dispatch flags    [2][L][R][Tmax] u64  epoch, once that dispatch row is complete
//   combine flags     [2][Tmax][K_max] u64 epoch, once that combine row is complete
//   dispatch rows     [2][L][R][Tmax] rows of row_bytes: payload, scales, meta
//   combine rows      [2][Tmax][K_max] rows of H bf16, written by the experts' ranks
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef __CUDACC__
#define TDM_EP_HD __host__ __device__
#else
#define TDM_EP_HD
#endif

namespace tdm::fused::ep {

inline constexpr int kMaxRanks = 8;  // intranode: every rank a load/store peer
inline constexpr int kMaxExperts = 512;
inline constexpr int kMaxTopk = 16;
inline constexpr int kMaxHidden = 8192;
inline constexpr int kMaxTokens = 65536;
inline constexpr int kGroup = 128;        // channels per fp8 scale
inline constexpr size_t kMetaBytes = 16;  // per row: token, k (int32), two spare words
inline constexpr size_t kRegionAlign = 256;

TDM_EP_HD constexpr size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

struct Layout {
  int nranks = 1;
  int experts = 1;  // E
  int max_tokens = 1;
  int hidden = 32;
  int max_topk = 1;
  bool fp8 = false;

  TDM_EP_HD constexpr int local_experts() const { return experts / nranks; }
  TDM_EP_HD constexpr size_t rows_per_expert() const { return size_t(nranks) * size_t(max_tokens); }
  TDM_EP_HD constexpr int groups() const { return (hidden + kGroup - 1) / kGroup; }
  // recv_x row and wire payload: fp8 bytes or bf16.
  TDM_EP_HD constexpr size_t payload_bytes() const {
    return fp8 ? size_t(hidden) : 2 * size_t(hidden);
  }
  TDM_EP_HD constexpr size_t scale_bytes() const {
    return fp8 ? round_up(size_t(groups()) * 4, 16) : 0;
  }
  TDM_EP_HD constexpr size_t row_bytes() const {
    return payload_bytes() + scale_bytes() + kMetaBytes;
  }
  TDM_EP_HD constexpr size_t combine_row_bytes() const { return 2 * size_t(hidden); }

  // Offsets in the region, in bytes.
  TDM_EP_HD constexpr size_t dispatch_signals() const { return 0; }
  TDM_EP_HD constexpr size_t combine_signals() const {
    return dispatch_signals() + 2 * size_t(local_experts()) * nranks * 8;
  }
  TDM_EP_HD constexpr size_t dispatch_flags() const {
    return combine_signals() + 2 * size_t(nranks) * 8;
  }
  TDM_EP_HD constexpr size_t combine_flags() const {
    return dispatch_flags() + 2 * size_t(local_experts()) * rows_per_expert() * 8;
  }
  // End of the words, start of the rows.
  TDM_EP_HD constexpr size_t dispatch_rows() const {
    return round_up(combine_flags() + 2 * size_t(max_tokens) * max_topk * 8, kRegionAlign);
  }
  TDM_EP_HD constexpr size_t combine_rows() const {
    return round_up(dispatch_rows() + 2 * size_t(local_experts()) * rows_per_expert() * row_bytes(),
                    kRegionAlign);
  }
  TDM_EP_HD constexpr size_t region_bytes() const {
    return round_up(combine_rows() + 2 * size_t(max_tokens) * max_topk * combine_row_bytes(),
                    kRegionAlign);
  }

  // Signal, flag and row addresses, as offsets.
  TDM_EP_HD constexpr size_t dispatch_signal(int parity, int local_expert, int src) const {
    return dispatch_signals() +
           ((size_t(parity) * local_experts() + local_expert) * nranks + src) * 8;
  }
  TDM_EP_HD constexpr size_t combine_signal(int parity, int src) const {
    return combine_signals() + (size_t(parity) * nranks + src) * 8;
  }
  // Index of a dispatch row among [2][L][R][Tmax]: its flag and its row.
  TDM_EP_HD constexpr size_t dispatch_index(int parity, int local_expert, int src, int slot) const {
    return ((size_t(parity) * local_experts() + local_expert) * nranks + src) * max_tokens + slot;
  }
  TDM_EP_HD constexpr size_t dispatch_flag(int parity, int local_expert, int src, int slot) const {
    return dispatch_flags() + dispatch_index(parity, local_expert, src, slot) * 8;
  }
  TDM_EP_HD constexpr size_t dispatch_row(int parity, int local_expert, int src, int slot) const {
    return dispatch_rows() + dispatch_index(parity, local_expert, src, slot) * row_bytes();
  }
  TDM_EP_HD constexpr size_t combine_index(int parity, int token, int k) const {
    return (size_t(parity) * max_tokens + token) * max_topk + k;
  }
  TDM_EP_HD constexpr size_t combine_flag(int parity, int token, int k) const {
    return combine_flags() + combine_index(parity, token, k) * 8;
  }
  TDM_EP_HD constexpr size_t combine_row(int parity, int token, int k) const {
    return combine_rows() + combine_index(parity, token, k) * combine_row_bytes();
  }
};

// The dispatch signal word: the epoch of the call that wrote it and the rows
// that source rank sent to that expert.
TDM_EP_HD constexpr uint64_t dispatch_word(uint32_t epoch, uint32_t rows) {
  return (uint64_t(epoch) << 32) | rows;
}

}  // namespace tdm::fused::ep
