// POSIX shared-memory segments: the mapping (RAII), opening or creating one
// by name, and a region every rank of a bootstrap maps at once (the host
// collectives' slots, collectives/host/slots.h). Segments are unlinked as soon
// as every rank mapped them, so a crash leaves nothing in /dev/shm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace tdm::bootstrap {
class Bootstrap;
}

namespace tdm::transport {

// An mmap'ed region; unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* base, size_t size) : base_(base), size_(size) {}
  ~Mapping();
  Mapping(Mapping&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)), size_(other.size_) {}
  Mapping& operator=(Mapping&& other) noexcept {
    std::swap(base_, other.base_);
    std::swap(size_, other.size_);
    return *this;
  }
  std::byte* bytes() const { return static_cast<std::byte*>(base_); }
  size_t size() const { return size_; }

 private:
  void* base_ = nullptr;
  size_t size_ = 0;
};

// A name no other segment of this process or job has.
std::string segment_name(uint64_t nonce, int rank);
// Maps segment `name`; `create` makes it (exclusively) and reserves its pages,
// so a full /dev/shm fails here rather than with SIGBUS later.
Mapping map_segment(const std::string& name, size_t size, bool create);

// Collective over `boot`, whose ranks must share one host: rank 0 creates a
// zeroed segment of `size` bytes, every rank maps it, then it is unlinked.
Mapping map_shared_by_all(bootstrap::Bootstrap& boot, size_t size);

}  // namespace tdm::transport
