// The CUDA ep (ep.h, docs/ep.md): one symmetric region (signals, dispatch
// rows, combine rows; fused/ep/layout.h) through the fused layer's Workspace,
// device-local state beside it (epochs, counters, the handle), and the four
// kernels of kernels.cu. Nothing here waits on the host after creation.
#include "fused/ep/ep.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <vector>

#include "comm/cuda_side.h"
#include "device/driver.h"
#include "device/memory.h"
#include "fused/ep/kernels.h"
#include "fused/workspace.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::fused::ep {

namespace {

// Points the device-local arrays of `dev` one after another (256-byte
// aligned) into the allocation at `base` and returns the bytes they take;
// with `base` null, only the size (one list for both, so they cannot drift).
size_t carve_local(const Layout& lo, char* base, EpDevice& dev) {
  const size_t E = size_t(lo.experts), L = size_t(lo.local_experts());
  const size_t rows = L * lo.rows_per_expert();
  size_t used = 0;
  auto take = [&]<typename T>(T*& field, size_t count) {
    field = base ? reinterpret_cast<T*>(base + used) : nullptr;
    used += round_up(count * sizeof(T), 256);
  };
  take(dev.state, kStateWords);
  take(dev.slot_counter, 2 * E);                   // per parity
  take(dev.token_counter, 2 * size_t(lo.nranks));  // per parity
  take(dev.src_token, rows);
  take(dev.src_k, rows);
  take(dev.src_rank, rows);
  take(dev.layout_range, L * lo.nranks);
  take(dev.recv_rows, L);
  take(dev.local_row, size_t(lo.max_tokens) * lo.max_topk);
  return used;
}

class CudaEp final : public Ep {
 public:
  CudaEp(Comm& comm, const tdmEpConfig_t& config, const Layout& lo)
      : Ep(comm, lo),
        error_(device::mapped_host_alloc(sizeof(int))),
        local_(device::device_alloc(local_bytes(lo))),
        region_(comm, lo.region_bytes() - lo.dispatch_rows(), signal_words(lo)) {
    std::memset(error_.get(), 0, sizeof(int));
    TDM_CUDA(cudaMemset(local_.get(), 0, local_bytes(lo)));
    // cudaMemset on device memory is asynchronous, on the legacy stream, which
    // a caller's non-blocking stream does not wait for: the first dispatch
    // must not read the previous owner's epochs.
    TDM_CUDA(cudaDeviceSynchronize());
    int device = 0;
    TDM_CUDA(cudaGetDevice(&device));
    TDM_CUDA(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));

    dev_.layout = lo;
    dev_.rank = comm.rank;
    dev_.round_scale = (config.flags & TDM_EP_ROUND_SCALE) != 0;
    for (int pe = 0; pe < comm.nranks; ++pe)
      dev_.region[pe] = reinterpret_cast<char*>(region_.flag(pe, 0));
    carve_local(lo, static_cast<char*>(local_.get()), dev_);
    void* error_device = nullptr;
    TDM_CUDA(cudaHostGetDevicePointer(&error_device, error_.get(), 0));
    dev_.error = static_cast<int*>(error_device);
    const tdmShmemDevice_t shmem = cuda_side::shmem_device(comm);
    dev_.timeout_ns = shmem.timeout_ns;
    dev_.timeout_error = shmem.internal_error;
    TDM_INFO("CUDA", "ep: E ", lo.experts, " Tmax ", lo.max_tokens, " H ", lo.hidden, " K ",
             lo.max_topk, lo.fp8 ? " fp8" : " bf16", " wire, ", lo.region_bytes(),
             " bytes of symmetric memory, ", sms_, " blocks");
  }

  void dispatch(const DispatchArgs& a) override {
    const CallOrder::Stage next = order_.check_dispatch(a.phase, a.tokens, a.topk);
    const Launch at{sms_, a.stream};
    TDM_CUDA(launch_dispatch(dev_, a.phase, a.x, a.topk_idx, a.tokens, a.topk, a.recv_x,
                             a.recv_scales, a.recv_count, at));
    order_.commit(next, a.tokens, a.topk);
  }

  void combine(const CombineArgs& a) override {
    const CallOrder::Stage next = order_.check_combine(a.phase, a.tokens, a.topk);
    const Launch at{sms_, a.stream};
    TDM_CUDA(
        launch_combine(dev_, a.phase, a.y, a.topk_idx, a.weights, a.tokens, a.topk, a.out, at));
    order_.commit(next, a.tokens, a.topk);
  }

  tdmEpHandle_t handle() const override {
    return {dev_.src_token,
            dev_.src_k,
            dev_.src_rank,
            dev_.layout_range,
            layout().local_experts(),
            static_cast<int>(layout().rows_per_expert())};
  }

  int take_device_error() override {
    auto* word = static_cast<volatile int*>(error_.get());
    const int seen = *word;
    if (seen != 0) __atomic_fetch_and(static_cast<int*>(error_.get()), ~seen, __ATOMIC_SEQ_CST);
    return seen;
  }

 private:
  static size_t local_bytes(const Layout& lo) {
    EpDevice scratch;
    return carve_local(lo, nullptr, scratch);
  }
  // The signal words, zero on every rank before any rank returns from create.
  static std::vector<uint32_t> signal_words(const Layout& lo) {
    return std::vector<uint32_t>(lo.dispatch_rows() / sizeof(uint32_t), 0u);
  }

  // Declared before the region: destroyed after it, whose destructor waits
  // for the device and the peers.
  device::MappedHostMemory error_;
  device::DeviceMemory local_;
  Workspace region_;
  EpDevice dev_;
  int sms_ = 1;
};

}  // namespace

std::unique_ptr<Ep> create(Comm& comm, const tdmEpConfig_t& config, const Layout& layout) {
  if (!cuda_side::has_engine(comm))
    throw_error(tdmInvalidUsage,
                "expert-parallel dispatch and combine need a communicator with the CUDA engine "
                "(a current CUDA device on every rank when it was created)");
  return std::make_unique<CudaEp>(comm, config, layout);
}

}  // namespace tdm::fused::ep
