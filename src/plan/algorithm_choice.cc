#include "plan/algorithm_choice.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>

#include "util/env.h"
#include "util/error.h"

namespace tdm::plan {

namespace {

size_t align_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Thresholds compared with message sizes: 1 TiB is "always" for any message
// and keeps align_up from wrapping.
constexpr uint64_t kMaxThreshold = uint64_t(1) << 40;
// The LL area is allocated from this bound: 1 GiB is 1000x the default.
constexpr uint64_t kMaxLL = uint64_t(1) << 30;

// An algorithm forced by environment variable `var`: `unset` when it is unset
// or empty, the value named, or tdmInvalidArgument listing the names.
template <typename Algorithm>
Algorithm forced_from_env(const char* var,
                          std::initializer_list<std::pair<const char*, Algorithm>> names,
                          Algorithm unset) {
  const auto value = env::get(var);
  if (!value || value->empty()) return unset;
  std::string known;
  for (const auto& [name, algorithm] : names) {
    if (*value == name) return algorithm;
    known += known.empty() ? name : std::string(", ") + name;
  }
  throw_error(tdmInvalidArgument, var, "='", *value, "' is not one of ", known);
}

}  // namespace

const char* name_of(HostAllReduce algorithm) {
  switch (algorithm) {
    case HostAllReduce::kOneShot:
      return "oneshot";
    case HostAllReduce::kRing:
      return "ring";
    case HostAllReduce::kHierarchical:
      return "hier";
  }
  return "?";
}

HostAllReduceSettings host_allreduce_settings_from_env() {
  HostAllReduceSettings s{};
  s.oneshot_max_bytes = env::get_size("TANDEM_ONESHOT_MAX_BYTES", 32 << 10, 0, kMaxThreshold);
  s.forced = forced_from_env<int32_t>("TANDEM_ALLREDUCE_ALGO",
                                      {{"oneshot", int32_t(HostAllReduce::kOneShot)},
                                       {"ring", int32_t(HostAllReduce::kRing)},
                                       {"hier", int32_t(HostAllReduce::kHierarchical)}},
                                      -1);
  return s;
}

HostAllReduce choose_host_allreduce(const HostAllReduceSettings& settings, size_t bytes, int nranks,
                                    int nhosts) {
  if (settings.forced >= 0) return static_cast<HostAllReduce>(settings.forced);
  if (bytes <= settings.oneshot_max_bytes) return HostAllReduce::kOneShot;
  const bool spans_hosts = nhosts > 1;
  const bool hosts_shared = nhosts < nranks;
  if (spans_hosts && hosts_shared) return HostAllReduce::kHierarchical;
  return HostAllReduce::kRing;
}

const char* name_of(CudaAllReduce algorithm) {
  switch (algorithm) {
    case CudaAllReduce::kOneShot:
      return "one-shot LL";
    case CudaAllReduce::kTwoShot:
      return "two-shot LL";
    case CudaAllReduce::kPipelined:
      return "pipelined";
    default:
      return "auto";
  }
}

CudaSettings cuda_settings_from_env(int nranks) {
  CudaSettings s{};
  // LL range: with 2 ranks the LL kernels beat the pipelined ones up to 1 MiB
  // (2x H200: allreduce 10.6 us against 17.6, reduce-scatter of a 1 MiB
  // block 10.7 against 12.9; docs/benchmarks-cuda.md); with more ranks
  // one-shot traffic grows with n, and 256 KiB bounds the LL area.
  const uint64_t default_ll = nranks <= 2 ? 1 << 20 : 256 << 10;
  s.ll_max_bytes = align_up(env::get_size("TANDEM_CUDA_LL_MAX_BYTES", default_ll, 0, kMaxLL), 8);
  s.forced = static_cast<int32_t>(forced_from_env("TANDEM_CUDA_ALLREDUCE_ALGO",
                                                  {{"auto", CudaAllReduce::kAuto},
                                                   {"oneshot", CudaAllReduce::kOneShot},
                                                   {"twoshot", CudaAllReduce::kTwoShot},
                                                   {"pipelined", CudaAllReduce::kPipelined}},
                                                  CudaAllReduce::kAuto));
  // One-shot moves (n - 1) x the message out of every rank, two-shot about
  // 2x, in two dependent LL phases: with 2 ranks one-shot always wins; with
  // more, two-shot takes over above 64 KiB (a first guess: only 2 GPUs were
  // lent to measure on; docs/benchmarks-cuda.md).
  const uint64_t default_oneshot = nranks <= 2 ? s.ll_max_bytes : 64 << 10;
  s.oneshot_max_bytes =
      env::get_size("TANDEM_CUDA_ONESHOT_MAX_BYTES", default_oneshot, 0, kMaxThreshold);
  // Copy-engine paths: opt-in. On 2x H200 an in-place allgather into a
  // symmetric window gains 5-7% from 32 MiB per rank (386 against 360 GB/s
  // at 1 GiB), but out of place the local block's copy runs after the peer
  // copy on the stream and loses (300 against 346); the choice cannot depend
  // on placement, which may differ between ranks (docs/benchmarks-cuda.md).
  s.ce_min_bytes =
      env::get_bool("TANDEM_CUDA_CE", false)
          ? std::max<uint64_t>(
                env::get_size("TANDEM_CUDA_CE_MIN_BYTES", 32 << 20, 0, kMaxThreshold), 1)
          : 0;
  // Direct all-to-all under graph capture: one copy over NVLink instead of
  // a slot and a copy out; from 8 MiB per peer (docs/drop-in.md, the sweep).
  s.direct_min_bytes = env::get_size("TANDEM_CUDA_DIRECT_MIN_BYTES", 8 << 20, 0, kMaxThreshold);
  return s;
}

// Allreduce: by size and rank count, or as forced by TANDEM_CUDA_ALLREDUCE_ALGO;
// a forced LL algorithm whose message does not fit the LL area falls back to
// the pipelined kernel (two-shot fits n / 2 times as much as one-shot). Other
// kinds with LL kernels take them while the message fits the LL area.
CudaKernel choose_cuda_kernel(const CudaSettings& settings, CallKind kind, size_t message,
                              int nranks) {
  const bool one_fits = message <= settings.ll_max_bytes;
  if (kind != CallKind::kAllReduce) {
    const bool has_ll = kind == CallKind::kReduceScatter || kind == CallKind::kAllGather ||
                        kind == CallKind::kAlltoAll;
    return has_ll && one_fits ? CudaKernel::kOneShotLL : CudaKernel::kPipelined;
  }
  const bool two_fits = 2 * two_shot_shard_bytes(message, nranks) <= settings.ll_max_bytes;
  switch (static_cast<CudaAllReduce>(settings.forced)) {
    case CudaAllReduce::kOneShot:
      return one_fits ? CudaKernel::kOneShotLL : CudaKernel::kPipelined;
    case CudaAllReduce::kTwoShot:
      return two_fits ? CudaKernel::kTwoShotLL : CudaKernel::kPipelined;
    case CudaAllReduce::kPipelined:
      return CudaKernel::kPipelined;
    default:
      // With 2 ranks two-shot fits exactly what one-shot does, so by default
      // it is never picked there.
      if (message <= std::min(settings.oneshot_max_bytes, settings.ll_max_bytes))
        return CudaKernel::kOneShotLL;
      return two_fits ? CudaKernel::kTwoShotLL : CudaKernel::kPipelined;
  }
}

bool direct_eligible(const CudaSettings& settings, CallKind kind, size_t block) {
  return kind == CallKind::kAlltoAll && settings.direct_min_bytes != 0 &&
         block >= settings.direct_min_bytes && block % 16 == 0;
}

bool copy_engine_eligible(const CudaSettings& settings, CallKind kind, size_t block) {
  const bool kind_ok = kind == CallKind::kAllGather || kind == CallKind::kBroadcast;
  return kind_ok && settings.ce_min_bytes != 0 && block >= settings.ce_min_bytes;
}

}  // namespace tdm::plan
