// C entry points of tandem/ep.h. Every host-checkable argument is checked
// here (sizes, pointers, phase and its order), before anything is enqueued or
// allocated; the ep itself lives in fused/ep/.
#include <cstdint>
#include <memory>
#include <string>

#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "comm/comm.h"
#include "fused/ep/ep.h"
#include "fused/ep/ep_device.cuh"
#include "tandem/ep.h"

using namespace tdm;
using namespace tdm::api;
namespace ep = tdm::fused::ep;

namespace {

// The kernels move rows with 16-byte vector loads and stores: a sliced
// pointer off that alignment would fault on the device, so refuse it here.
void check_aligned16(const void* p, const char* what) {
  if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0)
    throw_error(tdmInvalidArgument, what, " must be 16-byte aligned (the kernels move rows in ",
                "16-byte vectors); got ", p);
}

constexpr const char* kTakes = "dispatch and combine";

int checked_phase(int phase) {
  if (phase != TDM_EP_SEND && phase != TDM_EP_RECV && phase != TDM_EP_BOTH)
    throw_error(tdmInvalidArgument, "phase ", phase,
                " is not TDM_EP_SEND, TDM_EP_RECV or TDM_EP_BOTH");
  return phase;
}

void check_sizes(const ep::Layout& lo, int tokens, int topk) {
  if (tokens < 0 || tokens > lo.max_tokens)
    throw_error(tdmInvalidArgument, "num_tokens ", tokens, " is outside 0 to the ep's max_tokens ",
                lo.max_tokens);
  if (topk < 1 || topk > lo.max_topk)
    throw_error(tdmInvalidArgument, "num_topk ", topk, " is outside 1 to the ep's max_topk ",
                lo.max_topk);
}

void run_dispatch(ep::Ep& e, const ep::DispatchArgs& a) {
  InFlight busy(e.comm());
  e.dispatch(a);
}

void run_combine(ep::Ep& e, const ep::CombineArgs& a) {
  InFlight busy(e.comm());
  e.combine(a);
}

}  // namespace

TDM_EXPORT tdmResult_t tdmEpBufferSizeHint(const tdmEpConfig_t* config, int nranks, size_t* bytes) {
  return guarded("tdmEpBufferSizeHint", [&] {
    check_not_null(bytes, "bytes");
    *bytes = ep::checked_layout(config, nranks).region_bytes();
  });
}

TDM_EXPORT tdmResult_t tdmEpCreate(tdmComm_t comm, const tdmEpConfig_t* config, tdmEp_t* out) {
  return guarded("tdmEpCreate", [&] {
    Comm& c = checked(comm);
    check_not_null(out, "ep");
    const ep::Layout layout = ep::checked_layout(config, c.nranks);
    InFlight busy(c);
    *out = publish(ep::create(c, *config, layout));
  });
}

TDM_EXPORT tdmResult_t tdmEpDispatch(tdmEp_t handle, const void* x, const int64_t* topk_idx,
                                     int num_tokens, int num_topk, void* recv_x, float* recv_scales,
                                     int32_t* recv_count, tdmEpHandle_t* layout_out,
                                     tdmEpPhase_t phase, cudaStream_t stream) {
  return guarded("tdmEpDispatch", [&] {
    ep::Ep& e = checked(handle);
    const int p = checked_phase(enum_arg(phase));
    const ep::Layout& lo = e.layout();
    check_sizes(lo, num_tokens, num_topk);
    if ((p & TDM_EP_SEND) && num_tokens > 0) {
      check_device_buffer(x, "x", kTakes);
      check_device_buffer(topk_idx, "topk_idx", kTakes);
      check_aligned16(x, "x");
    }
    if (p & TDM_EP_RECV) {
      check_device_buffer(recv_x, "recv_x", kTakes);
      check_device_buffer(recv_count, "recv_count", kTakes);
      check_aligned16(recv_x, "recv_x");
      if (lo.fp8)
        check_device_buffer(recv_scales, "recv_scales", kTakes);
      else if (recv_scales != nullptr)
        throw_error(tdmInvalidArgument,
                    "recv_scales is given but the ep's wire is bf16 (pass NULL)");
    }
    run_dispatch(e,
                 {x, topk_idx, num_tokens, num_topk, recv_x, recv_scales, recv_count, p, stream});
    if (layout_out) *layout_out = e.handle();
  });
}

TDM_EXPORT tdmResult_t tdmEpCombine(tdmEp_t handle, const void* y, const int64_t* topk_idx,
                                    const float* topk_weights, int num_tokens, int num_topk,
                                    void* out, tdmEpPhase_t phase, cudaStream_t stream) {
  return guarded("tdmEpCombine", [&] {
    ep::Ep& e = checked(handle);
    const int p = checked_phase(enum_arg(phase));
    check_sizes(e.layout(), num_tokens, num_topk);
    if (p & TDM_EP_SEND) {
      check_device_buffer(y, "y", kTakes);
      check_aligned16(y, "y");
    }
    if ((p & TDM_EP_RECV) && num_tokens > 0) {
      check_device_buffer(topk_idx, "topk_idx", kTakes);
      check_device_buffer(topk_weights, "topk_weights", kTakes);
      check_device_buffer(out, "out", kTakes);
      check_aligned16(out, "out");
    }
    run_combine(e, {y, topk_idx, topk_weights, num_tokens, num_topk, out, p, stream});
  });
}

TDM_EXPORT tdmResult_t tdmEpGetDeviceError(tdmEp_t handle) {
  return guarded("tdmEpGetDeviceError", [&] {
    const int bits = checked(handle).take_device_error();
    if (bits == 0) return;
    std::string what;
    if (bits & ep::kBadExpert) what = "an expert index outside -1 to num_experts - 1";
    if (bits & ep::kRepeatedExpert)
      what += std::string(what.empty() ? "" : " and ") + "an expert repeated in a token's top-k";
    throw_error(tdmInvalidArgument, "the device saw ", what,
                " in topk_idx; those entries were skipped (not sent, not combined)");
  });
}

TDM_EXPORT tdmResult_t tdmEpDestroy(tdmEp_t handle) {
  return guarded("tdmEpDestroy", [&] {
    std::unique_ptr<ep::Ep> owned = take(handle);
    InFlight busy(owned->comm());
    owned.reset();  // collective: waits for the device and the peers, frees the region
  });
}
