// Single-producer single-consumer byte ring. The control block and data may
// live in shared memory (producer and consumer in different processes) or in
// private memory (the socket transport's staging).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tdm::transport {

struct RingControl {
  alignas(64) std::atomic<uint64_t> head{0};  // bytes ever produced
  alignas(64) std::atomic<uint64_t> tail{0};  // bytes ever consumed
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

class RingWriter {
 public:
  RingWriter() = default;
  RingWriter(RingControl* control, std::byte* data, size_t capacity)
      : control_(control), data_(data), capacity_(capacity) {}

  // Contiguous free space (up to the end of the buffer).
  std::span<std::byte> space() {
    tail_cache_ = control_->tail.load(std::memory_order_acquire);
    uint64_t free = capacity_ - (head_ - tail_cache_);
    size_t offset = head_ % capacity_;
    return {data_ + offset, std::min<size_t>(free, capacity_ - offset)};
  }
  void commit(size_t bytes) {
    head_ += bytes;
    control_->head.store(head_, std::memory_order_release);
  }

 private:
  RingControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  uint64_t head_ = 0;
  uint64_t tail_cache_ = 0;
};

class RingReader {
 public:
  RingReader() = default;
  RingReader(RingControl* control, std::byte* data, size_t capacity)
      : control_(control), data_(data), capacity_(capacity) {}

  // Contiguous readable bytes (up to the end of the buffer).
  std::span<std::byte> data() {
    head_cache_ = control_->head.load(std::memory_order_acquire);
    uint64_t avail = head_cache_ - tail_;
    size_t offset = tail_ % capacity_;
    return {data_ + offset, std::min<size_t>(avail, capacity_ - offset)};
  }
  void release(size_t bytes) {
    tail_ += bytes;
    control_->tail.store(tail_, std::memory_order_release);
  }

 private:
  RingControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  size_t capacity_ = 0;
  uint64_t tail_ = 0;
  uint64_t head_cache_ = 0;
};

}  // namespace tdm::transport
