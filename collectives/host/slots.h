// Small one-shot collectives (allreduce, all-to-all) through memory every
// rank of a one-host team maps
// (plan::Team::slots): each rank copies its vector into its slot and raises
// the slot's epoch; each rank then reduces every slot, in rank order, into
// its own result (all-to-all: copies its block of every slot). One
// cache-line handoff per peer instead of a message through a ring and back,
// and no copy through the links; in place comes free (the slot is the copy).
//
// Two slots per rank, used by alternate calls: a rank enters call e only
// after it saw every peer's flag for call e-1, and a peer raises that flag
// only after it finished reading call e-2's slots, so writing slot e % 2
// never overwrites what a peer still reads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan/call.h"
#include "plan/plan.h"
#include "plan/team.h"

namespace tdm::host {

// Largest slot: one-shot stops paying beyond tens of KiB (ring wins).
inline constexpr size_t kMaxSlotBytes = size_t(1) << 20;

size_t slot_data_bytes(size_t wanted);              // rounded to cache lines
size_t slots_region_bytes(const plan::Team& team);  // for team.nranks and team.slot_bytes

// Whether a call publishing `bytes` can go through the slots on this team.
bool slots_fit(const plan::Team& team, size_t bytes);

// One call (a one-shot allreduce or an all-to-all for which uses_slots
// holds, plans.h) with epoch `epoch` (team.slot_epoch after incrementing it
// for this call), in the two halves around the wait for slots_ready:
// publish this rank's part, then reduce (or copy its blocks) out of every slot.
void slots_begin(plan::Team& team, const plan::Call& call, const plan::Reduction& red,
                 uint64_t epoch);
bool slots_ready(const plan::Team& team, uint64_t epoch);
void slots_end(const plan::Team& team, const plan::Call& call, const plan::Reduction& red,
               uint64_t epoch);

}  // namespace tdm::host
