// Config checks and phase order of an ep (ep.h): no CUDA, so the argument
// checks behave the same in every build and run in the unit tests.
#include <cstring>
#include <string>

#include "fused/ep/ep.h"
#include "util/error.h"

namespace tdm::fused::ep {

namespace {

void check_range(const char* field, int value, int low, int high) {
  if (value < low || value > high)
    throw_error(tdmInvalidArgument, "config->", field, " ", value, " is out of range (", low,
                " to ", high, ")");
}

const char* phase_name(int phase) {
  return phase == TDM_EP_SEND ? "send" : phase == TDM_EP_RECV ? "receive" : "one-call";
}

}  // namespace

Layout checked_layout(const tdmEpConfig_t* config, int nranks) {
  if (config == nullptr) throw_error(tdmInvalidArgument, "config is NULL");
  if (config->size != sizeof(tdmEpConfig_t) || config->version != TDM_EP_CONFIG_VERSION)
    throw_error(tdmInvalidArgument, "config has size ", config->size, " and version ",
                config->version, "; this library takes size ", sizeof(tdmEpConfig_t),
                " and version ", TDM_EP_CONFIG_VERSION);
  if (nranks < 1 || nranks > kMaxRanks)
    throw_error(tdmInvalidUsage, "expert parallelism runs on 1 to ", kMaxRanks,
                " ranks of one host, not ", nranks);
  check_range("num_experts", config->num_experts, 1, kMaxExperts);
  check_range("max_tokens", config->max_tokens, 1, kMaxTokens);
  check_range("hidden", config->hidden, 32, kMaxHidden);
  check_range("max_topk", config->max_topk, 1, kMaxTopk);
  if (config->hidden % 32 != 0)
    throw_error(tdmInvalidArgument, "config->hidden ", config->hidden, " is not a multiple of 32");
  if (config->num_experts % nranks != 0)
    throw_error(tdmInvalidArgument, "config->num_experts ", config->num_experts,
                " is not divisible by the ", nranks, " ranks");
  int wire = 0;  // as bits: any int may come from C (api/validate.h enum_arg)
  std::memcpy(&wire, &config->wire, sizeof wire);
  if (wire != TDM_EP_WIRE_BF16 && wire != TDM_EP_WIRE_FP8)
    throw_error(tdmInvalidArgument, "config->wire ", wire,
                " is neither TDM_EP_WIRE_BF16 nor TDM_EP_WIRE_FP8");
  if ((config->flags & ~TDM_EP_ROUND_SCALE) != 0)
    throw_error(tdmInvalidArgument, "config->flags ", config->flags, " has unknown bits");
  Layout layout;
  layout.nranks = nranks;
  layout.experts = config->num_experts;
  layout.max_tokens = config->max_tokens;
  layout.hidden = config->hidden;
  layout.max_topk = config->max_topk;
  layout.fp8 = wire == TDM_EP_WIRE_FP8;
  return layout;
}

void CallOrder::check_same(const char* call, int tokens, int topk) const {
  if (tokens != tokens_ || topk != topk_)
    throw_error(tdmInvalidUsage, call, " has ", tokens, " tokens and top-", topk,
                " but the dispatch it follows had ", tokens_, " and top-", topk_);
}

CallOrder::Stage CallOrder::check_dispatch(int phase, int tokens, int topk) const {
  if (phase == TDM_EP_RECV) {
    if (stage_ != Stage::kDispatchSent)
      throw_error(tdmInvalidUsage,
                  "a dispatch receive phase needs a dispatch send phase before it, and the "
                  "latest call was not one");
    check_same("the dispatch receive phase", tokens, topk);
    return Stage::kDispatched;
  }
  if (stage_ == Stage::kDispatchSent)
    throw_error(tdmInvalidUsage, "a dispatch ", phase_name(phase),
                " call came while the previous dispatch waits for its receive phase");
  if (stage_ == Stage::kCombineSent)
    throw_error(tdmInvalidUsage, "a dispatch ", phase_name(phase),
                " call came while the previous combine waits for its receive phase");
  return phase == TDM_EP_SEND ? Stage::kDispatchSent : Stage::kDispatched;
}

CallOrder::Stage CallOrder::check_combine(int phase, int tokens, int topk) const {
  if (phase == TDM_EP_RECV) {
    if (stage_ != Stage::kCombineSent)
      throw_error(tdmInvalidUsage,
                  "a combine receive phase needs a combine send phase before it, and the latest "
                  "call was not one");
    check_same("the combine receive phase", tokens, topk);
    return Stage::kDispatched;
  }
  if (stage_ != Stage::kDispatched)
    throw_error(tdmInvalidUsage, "a combine ", phase_name(phase),
                " call needs a finished dispatch (send and receive phases) before it");
  check_same("the combine", tokens, topk);
  return phase == TDM_EP_SEND ? Stage::kCombineSent : Stage::kDispatched;
}

}  // namespace tdm::fused::ep
