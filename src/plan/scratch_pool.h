// Staging memory a plan borrows for one call. The team keeps it between
// calls: glibc serves allocations of 32 MiB and more with fresh mmaps, so a
// large in-place all-to-all that allocated its staging per call paid for
// mapping, faulting and unmapping every page every time (4 ranks, 32 MiB:
// 62 ms in place against 22 ms out of place).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace tdm::plan {

class ScratchPool {
 public:
  // Borrowed bytes (uninitialized), returned to the pool on destruction.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)), buffer_(std::move(other.buffer_)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        give_back();
        pool_ = std::exchange(other.pool_, nullptr);
        buffer_ = std::move(other.buffer_);
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { give_back(); }
    std::byte* data() const { return buffer_.data.get(); }

   private:
    friend class ScratchPool;
    struct Buffer {
      std::unique_ptr<std::byte[]> data;
      size_t size = 0;
    };
    Lease(ScratchPool* pool, Buffer buffer) : pool_(pool), buffer_(std::move(buffer)) {}
    void give_back() {
      if (pool_ && buffer_.data) pool_->put(std::move(buffer_));
      pool_ = nullptr;
    }
    ScratchPool* pool_ = nullptr;
    Buffer buffer_;
  };

  // The smallest kept buffer of at least `bytes`, else a new one.
  Lease take(size_t bytes) {
    std::lock_guard lock(mutex_);
    size_t best = spare_.size();
    for (size_t i = 0; i < spare_.size(); ++i)
      if (spare_[i].size >= bytes && (best == spare_.size() || spare_[i].size < spare_[best].size))
        best = i;
    if (best == spare_.size())
      return Lease(this, {std::make_unique_for_overwrite<std::byte[]>(bytes), bytes});
    Lease::Buffer buffer = std::move(spare_[best]);
    spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(best));
    return Lease(this, std::move(buffer));
  }

 private:
  static constexpr size_t kMaxSpare = 4;  // buffers kept; the largest stay
  void put(Lease::Buffer buffer) {
    std::lock_guard lock(mutex_);
    spare_.push_back(std::move(buffer));
    if (spare_.size() > kMaxSpare) {
      size_t smallest = 0;
      for (size_t i = 1; i < spare_.size(); ++i)
        if (spare_[i].size < spare_[smallest].size) smallest = i;
      spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(smallest));
    }
  }
  std::mutex mutex_;
  std::vector<Lease::Buffer> spare_;
};

}  // namespace tdm::plan
