// A fused op's symmetric workspace: one allocation on the communicator's
// symmetric heap (same offset on every rank), holding the op's flag words
// first and its data after them, plus every peer's address of it. Peers
// write into it (copy-engine pushes, flags) and read from it over NVLink.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "comm/comm.h"

namespace tdm::fused {

class Workspace {
 public:
  // Collective. Every flag starts at `initial[i]` on every rank before any
  // rank returns (a barrier ends the constructor), so no peer raises a flag
  // that the initialization then wipes.
  Workspace(Comm& comm, size_t data_bytes, std::span<const uint32_t> initial);
  // Collective: waits for the device, then frees the allocation.
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  char* data(int pe) const { return base_[pe] + data_offset_; }
  uint32_t* flag(int pe, size_t index) const {
    return reinterpret_cast<uint32_t*>(base_[pe]) + index;
  }

 private:
  Comm& comm_;
  void* local_ = nullptr;
  size_t data_offset_ = 0;
  std::vector<char*> base_;  // by PE: the allocation's address here
};

}  // namespace tdm::fused
