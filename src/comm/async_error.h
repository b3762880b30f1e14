// A communicator's asynchronous error (tdmCommGetAsyncError): set once by
// whichever thread notices the failure first (a failed host operation, a
// device wait that gave up), read by any thread, e.g. a framework's watchdog.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "tandem/tandem.h"

namespace tdm {

class AsyncError {
 public:
  // Keeps the first error; later ones are dropped.
  void record(tdmResult_t code, std::string text) {
    std::lock_guard lock(mutex_);
    if (code_.load(std::memory_order_relaxed) != tdmSuccess) return;
    text_ = std::move(text);
    code_.store(code, std::memory_order_release);
  }
  tdmResult_t code() const { return code_.load(std::memory_order_acquire); }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  mutable std::mutex mutex_;
  std::atomic<tdmResult_t> code_{tdmSuccess};
  std::string text_;
};

}  // namespace tdm
