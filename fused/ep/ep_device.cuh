// The device handle of one ep (fused/ep/ep.h owns what it points to): plain
// data, passed by value to the four kernels of kernels.cu.
//
// Ordering contract (docs/ep.md, "Signals"): a send kernel first writes
// every receiver's count words (relaxed: they order no data), then the rows
// with plain stores, each row followed, after its block's or warp's barrier
// and a system-scope fence, by the row's flag (the call's epoch); a dispatch
// row is one token's row to one rank, its meta naming the local experts. The
// receiver polls counts and flags with ld.acquire.sys, then reads the rows.
// Epochs live in `state` (device memory), advanced by the last block of each
// receive kernel, so a CUDA graph replays the calls unchanged.
#pragma once

#include <cstdint>
#include <type_traits>

#include "fused/ep/layout.h"

namespace tdm::fused::ep {

// Words of EpDevice::state.
enum StateWord : int {
  kDispatchEpoch = 0,  // completed dispatches (receive phases)
  kCombineEpoch = 1,   // completed combines
  kDispatchDone = 2,   // blocks of the running dispatch receive that have finished
  kCombineDone = 3,
  kStateWords = 4
};

// Bits of the device error word.
enum DeviceError : int {
  kBadExpert = 1,       // an index outside [-1, E)
  kRepeatedExpert = 2,  // one expert twice in a token's top-k
};

struct EpDevice {
  Layout layout;
  int rank = 0;
  bool round_scale = false;
  char* region[kMaxRanks] = {};  // the symmetric region, as mapped here, by rank
  uint32_t* state = nullptr;     // kStateWords
  int* slot_counter = nullptr;   // [2][E] rows sent to expert e by the call of that parity
  int* token_counter = nullptr;  // [2][R] token rows sent to rank r by the call of that parity
  int32_t* src_token = nullptr;  // the handle: [L][R*Tmax]
  int32_t* src_k = nullptr;
  int32_t* src_rank = nullptr;
  int64_t* layout_range = nullptr;  // [L][R]
  int* recv_rows = nullptr;         // [L] rows of the latest dispatch, for combine
  int* local_row = nullptr;         // [Tmax][K_max] recv_x row of this rank's own (t, k)
  int* error = nullptr;             // host-mapped DeviceError bits
  unsigned long long timeout_ns = 0;
  int* timeout_error = nullptr;  // the communicator's word (tdmShmemDevice_t::internal_error)
};
static_assert(std::is_trivially_copyable_v<EpDevice>);

}  // namespace tdm::fused::ep
