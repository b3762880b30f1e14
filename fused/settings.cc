#include "fused/settings.h"

#include <climits>
#include <string>
#include <vector>

#include "util/env.h"

namespace tdm::fused {

namespace {

Settings from_env(int nranks) {
  Settings s;
  const std::string mode =
      env::get_choice("TANDEM_FUSED_MODE", "auto", {"auto", "fused", "sequential"});
  s.mode = mode == "fused" ? Mode::kFused : mode == "sequential" ? Mode::kSequential : Mode::kAuto;
  // Below 64 rows per rank the GEMMs are a few microseconds and the fused
  // path's extra launches and flags are not hidden by anything.
  s.min_rows = static_cast<int32_t>(env::get_int("TANDEM_FUSED_MIN_ROWS", 64, 1, INT_MAX));
  // 0: from tuned GEMM times and the link's speed (ag_gemm.cc); -1: never.
  s.ag_first_rows =
      static_cast<int32_t>(env::get_int("TANDEM_FUSED_AG_FIRST_ROWS", 0, -1, INT_MAX));
  // 0: chosen per op from tuned GEMM times (gemm_rs.cc).
  s.rs_chunks = static_cast<int32_t>(env::get_int("TANDEM_FUSED_RS_CHUNKS", 0, 0, 16));
  s.ar_blocks = static_cast<int32_t>(env::get_int("TANDEM_FUSED_AR_BLOCKS", 0, 0, 1024));
  // With two ranks one-shot and two-shot move the same bytes over each link
  // and one-shot saves a flag round; with more ranks two-shot moves less.
  const uint64_t two_shot_default = nranks <= 2 ? UINT64_MAX : uint64_t{256} << 10;
  s.ar_two_shot_bytes =
      env::get_size("TANDEM_FUSED_AR_TWO_SHOT_BYTES", two_shot_default, 0, UINT64_MAX);
  // Below this much output the sequential pair's allreduce (no barrier at the
  // end) beats the one-shot kernel: H200 pair, 8192 columns, M=1 (16 KiB)
  // 22.8 against 28.7 us, M=8 (128 KiB) 23.5 against 25.7; from M=128 at
  // 5120 columns (1.25 MiB) fused wins, 21.8 against 27.7.
  s.ar_min_bytes = env::get_size("TANDEM_FUSED_AR_MIN_BYTES", uint64_t{256} << 10, 0, UINT64_MAX);
  s.flags = env::get_choice("TANDEM_FUSED_FLAGS", "memop", {"memop", "kernel"}) == "kernel"
                ? FlagMethod::kKernel
                : FlagMethod::kMemop;
  return s;
}

}  // namespace

Settings agreed_settings(Comm& comm) {
  const Settings mine = from_env(comm.nranks);
  return comm.boot->allgather_value(mine).at(0);
}

}  // namespace tdm::fused
