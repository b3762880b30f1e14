#include "collectives/host/slots.h"

#include <atomic>
#include <cstring>

#include "collectives/host/reduce_kernels.h"

namespace tdm::host {

namespace {

constexpr size_t kLine = 64;

// A slot: its epoch on a line of its own, then the data.
struct SlotHeader {
  alignas(kLine) std::atomic<uint64_t> epoch;
};
static_assert(sizeof(SlotHeader) == kLine);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

size_t slot_stride(const plan::Team& team) { return kLine + team.slot_bytes; }

std::byte* slot_of(const plan::Team& team, int rank, uint64_t epoch) {
  return team.slots.bytes() + (size_t(rank) * 2 + epoch % 2) * slot_stride(team);
}

std::atomic<uint64_t>& epoch_of(std::byte* slot) {
  return reinterpret_cast<SlotHeader*>(slot)->epoch;
}

void publish(plan::Team& team, const plan::Reduction& red, const std::byte* src, size_t count,
             bool prescale, uint64_t epoch) {
  std::byte* slot = slot_of(team, team.rank, epoch);
  std::byte* data = slot + kLine;
  if (prescale)
    scale(red.type, data, src, count, red.scalar.data());
  else if (count > 0)
    std::memcpy(data, src, count * red.elem);
  epoch_of(slot).store(epoch, std::memory_order_release);
}

// All-to-all: block r of dst is block `team.rank` of rank r's slot.
void gather_blocks(const plan::Team& team, std::byte* dst, size_t block, uint64_t epoch) {
  if (block == 0) return;
  for (int r = 0; r < team.nranks; ++r)
    std::memcpy(dst + size_t(r) * block,
                slot_of(team, r, epoch) + kLine + size_t(team.rank) * block, block);
}

// In rank order, so every rank computes bit-identical results.
void reduce_slots(const plan::Team& team, const plan::Reduction& red, std::byte* dst, size_t count,
                  uint64_t epoch) {
  const std::byte* first = slot_of(team, 0, epoch) + kLine;
  const std::byte* second = slot_of(team, 1, epoch) + kLine;
  reduce(red.type, red.kind, dst, first, second, count);
  for (int r = 2; r < team.nranks; ++r)
    reduce(red.type, red.kind, dst, dst, slot_of(team, r, epoch) + kLine, count);
  if (red.divisor > 1) divide(red.type, dst, count, red.divisor);
}

}  // namespace

size_t slot_data_bytes(size_t wanted) { return (wanted + kLine - 1) / kLine * kLine; }

size_t slots_region_bytes(const plan::Team& team) {
  return size_t(team.nranks) * 2 * slot_stride(team);
}

bool slots_fit(const plan::Team& team, size_t bytes) {
  return team.slots.bytes() != nullptr && bytes <= team.slot_bytes;
}

bool slots_ready(const plan::Team& team, uint64_t epoch) {
  for (int r = 0; r < team.nranks; ++r)
    if (epoch_of(slot_of(team, r, epoch)).load(std::memory_order_acquire) != epoch) return false;
  return true;
}

void slots_begin(plan::Team& team, const plan::Call& call, const plan::Reduction& red,
                 uint64_t epoch) {
  const auto* src = static_cast<const std::byte*>(call.send);
  if (call.kind == plan::CallKind::kAlltoAll)  // the whole send buffer: a plain copy
    publish(team, red, src, call.count * size_t(team.nranks), false, epoch);
  else
    publish(team, red, src, call.count, call.op >= tdmNumOps, epoch);
}

void slots_end(const plan::Team& team, const plan::Call& call, const plan::Reduction& red,
               uint64_t epoch) {
  auto* dst = static_cast<std::byte*>(call.recv);
  if (call.kind == plan::CallKind::kAlltoAll)
    gather_blocks(team, dst, call.count * red.elem, epoch);
  else
    reduce_slots(team, red, dst, call.count, epoch);
}

}  // namespace tdm::host
