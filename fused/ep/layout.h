// Where everything of one ep lives: sizes and offsets of its symmetric region
// (the same on every rank), shared by the host class, the kernels and the
// tests. Plain arithmetic, host and device, no CUDA headers: the unit tests
// check it without a GPU.
//
// Symmetric region of one rank (docs/ep.md, "Memory"), two copies of every
// buffer and signal, picked by the parity of the call's epoch. The words
// (signals and flags) come first: they are zeroed when the ep is created.
//   dispatch signals  [2][L][R] u64   (epoch << 32 | rows) written by source rank r
//   token signals     [2][R]    u64   (epoch << 32 | token rows) written by source rank r
//   combine signals   [2][R]    u64   epoch, written by rank r when its combine send starts
//   dispatch flags    [2][R][Tmax] u64     epoch, once that token row is complete
//   combine flags     [2][Tmax][K_max] u64 epoch, once that combine row is complete
//   dispatch rows     [2][R][Tmax] token rows of row_bytes: payload, scales, meta
//   combine rows      [2][Tmax][K_max] rows of H bf16, written by the experts' ranks
// A dispatch token row carries one token of source rank r to this rank once,
// whatever number of this rank's experts it goes to; its meta lists them.
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
inline constexpr int kGroup = 128;  // channels per fp8 scale
inline constexpr size_t kRegionAlign = 256;

TDM_EP_HD constexpr size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Meta of a dispatch token row: int32 token, int32 n, then n (<= K_max)
// uint32 entries, one per local expert of the receiver the token goes to:
// local expert (9 bits) | k (4 bits) << 9 | slot (16 bits) << 13, the slot
// being the row's index among the (expert, source rank) rows, < T <= Tmax.
inline constexpr size_t kMetaHeaderBytes = 8;
inline constexpr int kMetaExpertBits = 9, kMetaTopkBits = 4, kMetaSlotBits = 16;
static_assert(kMaxExperts <= 1 << kMetaExpertBits && kMaxTopk <= 1 << kMetaTopkBits &&
              kMaxTokens <= 1 << kMetaSlotBits &&
              kMetaExpertBits + kMetaTopkBits + kMetaSlotBits <= 32);

struct MetaEntry {
  int local_expert = 0, k = 0, slot = 0;
};
TDM_EP_HD constexpr uint32_t pack_meta(int local_expert, int k, int slot) {
  return uint32_t(local_expert) | (uint32_t(k) << kMetaExpertBits) |
         (uint32_t(slot) << (kMetaExpertBits + kMetaTopkBits));
}
TDM_EP_HD constexpr MetaEntry unpack_meta(uint32_t word) {
  return {int(word & ((1u << kMetaExpertBits) - 1)),
          int((word >> kMetaExpertBits) & ((1u << kMetaTopkBits) - 1)),
          int((word >> (kMetaExpertBits + kMetaTopkBits)) & ((1u << kMetaSlotBits) - 1))};
}

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
  TDM_EP_HD constexpr size_t meta_bytes() const {
    return round_up(kMetaHeaderBytes + 4 * size_t(max_topk), 16);
  }
  TDM_EP_HD constexpr size_t row_bytes() const {
    return payload_bytes() + scale_bytes() + meta_bytes();
  }
  TDM_EP_HD constexpr size_t combine_row_bytes() const { return 2 * size_t(hidden); }

  // Offsets in the region, in bytes.
  TDM_EP_HD constexpr size_t dispatch_signals() const { return 0; }
  TDM_EP_HD constexpr size_t token_signals() const {
    return dispatch_signals() + 2 * size_t(local_experts()) * nranks * 8;
  }
  TDM_EP_HD constexpr size_t combine_signals() const {
    return token_signals() + 2 * size_t(nranks) * 8;
  }
  TDM_EP_HD constexpr size_t dispatch_flags() const {
    return combine_signals() + 2 * size_t(nranks) * 8;
  }
  TDM_EP_HD constexpr size_t combine_flags() const {
    return dispatch_flags() + 2 * size_t(nranks) * max_tokens * 8;
  }
  // End of the words, start of the rows.
  TDM_EP_HD constexpr size_t dispatch_rows() const {
    return round_up(combine_flags() + 2 * size_t(max_tokens) * max_topk * 8, kRegionAlign);
  }
  TDM_EP_HD constexpr size_t combine_rows() const {
    return round_up(dispatch_rows() + 2 * size_t(nranks) * max_tokens * row_bytes(), kRegionAlign);
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
  TDM_EP_HD constexpr size_t token_signal(int parity, int src) const {
    return token_signals() + (size_t(parity) * nranks + src) * 8;
  }
  TDM_EP_HD constexpr size_t combine_signal(int parity, int src) const {
    return combine_signals() + (size_t(parity) * nranks + src) * 8;
  }
  // Index of a dispatch token row among [2][R][Tmax]: its flag and its row.
  TDM_EP_HD constexpr size_t dispatch_index(int parity, int src, int token_row) const {
    return (size_t(parity) * nranks + src) * max_tokens + token_row;
  }
  TDM_EP_HD constexpr size_t dispatch_flag(int parity, int src, int token_row) const {
    return dispatch_flags() + dispatch_index(parity, src, token_row) * 8;
  }
  TDM_EP_HD constexpr size_t dispatch_row(int parity, int src, int token_row) const {
    return dispatch_rows() + dispatch_index(parity, src, token_row) * row_bytes();
  }
  // The meta of a token row, after its payload and scales (16-byte aligned).
  TDM_EP_HD constexpr size_t meta_offset() const { return payload_bytes() + scale_bytes(); }
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
// that source rank sent to that expert (dispatch signals) or the token rows
// it sent to that rank (token signals).
TDM_EP_HD constexpr uint64_t dispatch_word(uint32_t epoch, uint32_t rows) {
  return (uint64_t(epoch) << 32) | rows;
}

}  // namespace tdm::fused::ep
