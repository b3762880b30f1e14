// What the C API sees of expert parallelism (include/tandem/ep.h): the config
// checks and the order of phases, which need no GPU (config.cc, built in
// every build), and the ep itself: ep.cc builds the CUDA implementation,
// ep_stub.cc, compiled instead without CUDA, refuses with a sentence.
#pragma once

#include <cstdint>
#include <memory>

#include "comm/comm.h"
#include "fused/ep/layout.h"
#include "tandem/ep.h"

namespace tdm::fused::ep {

// The layout of `config` on `nranks` ranks, or tdmInvalidArgument with a
// sentence naming the field (sizes, version, E divisible by the ranks, ranks
// at most kMaxRanks).
Layout checked_layout(const tdmEpConfig_t* config, int nranks);

// Which calls may come next on one ep (tandem/ep.h: dispatch send, dispatch
// recv, then combine send, combine recv). check_* throws tdmInvalidUsage with
// a sentence when the call is out of order or its T / K differ from the
// dispatch it belongs to, and returns the stage after it; commit records it
// once the call was enqueued, so a refused or failed call changes nothing.
class CallOrder {
 public:
  enum class Stage { kIdle, kDispatchSent, kDispatched, kCombineSent };
  Stage check_dispatch(int phase, int tokens, int topk) const;
  Stage check_combine(int phase, int tokens, int topk) const;
  void commit(Stage next, int tokens, int topk) {
    stage_ = next;
    tokens_ = tokens;
    topk_ = topk;
  }
  Stage stage() const { return stage_; }

 private:
  void check_same(const char* call, int tokens, int topk) const;
  Stage stage_ = Stage::kIdle;
  int tokens_ = 0, topk_ = 0;  // of the latest dispatch
};

// The buffers of one call, already checked by the api layer.
struct DispatchArgs {
  const void* x = nullptr;
  const int64_t* topk_idx = nullptr;
  int tokens = 0, topk = 0;
  void* recv_x = nullptr;
  float* recv_scales = nullptr;
  int32_t* recv_count = nullptr;
  int phase = TDM_EP_BOTH;
  cudaStream_t stream = nullptr;
};
struct CombineArgs {
  const void* y = nullptr;
  const int64_t* topk_idx = nullptr;
  const float* weights = nullptr;
  int tokens = 0, topk = 0;
  void* out = nullptr;
  int phase = TDM_EP_BOTH;
  cudaStream_t stream = nullptr;
};

class Ep {
 public:
  virtual ~Ep() = default;
  Ep(const Ep&) = delete;
  Ep& operator=(const Ep&) = delete;
  // Enqueue the call's phases; the phase order was checked and is committed here.
  virtual void dispatch(const DispatchArgs& args) = 0;
  virtual void combine(const CombineArgs& args) = 0;
  virtual tdmEpHandle_t handle() const = 0;
  // The device's DeviceError bits so far, cleared.
  virtual int take_device_error() = 0;

  Comm& comm() const { return comm_; }
  const Layout& layout() const { return layout_; }
  const CallOrder& order() const { return order_; }

 protected:
  Ep(Comm& comm, const Layout& layout) : comm_(comm), layout_(layout) {}
  CallOrder order_;

 private:
  Comm& comm_;
  Layout layout_;
};

// Collective over `comm`; `layout` from checked_layout. Throws
// tdmInvalidUsage without the CUDA engine or peer access.
std::unique_ptr<Ep> create(Comm& comm, const tdmEpConfig_t& config, const Layout& layout);

}  // namespace tdm::fused::ep
