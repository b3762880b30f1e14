// The fused ops' TANDEM_FUSED_* knobs (README table), read when an op is
// created and agreed across ranks (rank 0's environment wins): the choices
// change which flags and buffers the ranks exchange, so they must match.
#pragma once

#include <cstdint>

#include "comm/comm.h"
#include "fused/signal.h"

namespace tdm::fused {

enum class Mode : int32_t { kAuto, kFused, kSequential };

struct Settings {
  Mode mode = Mode::kAuto;         // TANDEM_FUSED_MODE
  int32_t min_rows = 0;            // TANDEM_FUSED_MIN_ROWS: AG/RS rows per rank for auto
  int32_t ag_first_rows = 0;       // TANDEM_FUSED_AG_FIRST_ROWS: 0 auto, -1 per-peer pieces
  int32_t rs_chunks = 0;           // TANDEM_FUSED_RS_CHUNKS: row chunks per RS block (0 auto)
  int32_t ar_blocks = 0;           // TANDEM_FUSED_AR_BLOCKS: reduce kernel grid cap (0 auto)
  uint64_t ar_two_shot_bytes = 0;  // TANDEM_FUSED_AR_TWO_SHOT_BYTES
  uint64_t ar_min_bytes = 0;       // TANDEM_FUSED_AR_MIN_BYTES: auto fuses AR from this output size
  FlagMethod flags = FlagMethod::kMemop;  // TANDEM_FUSED_FLAGS
};

// Collective over `comm`: this rank's environment, then rank 0's values.
Settings agreed_settings(Comm& comm);

}  // namespace tdm::fused
