#include "output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace tandemrun {

void Sink::write(std::string_view data) {
  while (!broken_ && !data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};  // someone made our output non-blocking
      ::poll(&p, 1, -1);
    } else {
      broken_ = true;  // EPIPE or another lasting error: drop the rest
    }
  }
}

void LineForwarder::append_line(std::string& out, std::string_view line, bool newline) const {
  out += prefix_;
  out += line;
  if (newline) out += '\n';
}

void LineForwarder::feed(std::string_view data) {
  std::string out;
  size_t newline;
  while ((newline = data.find('\n')) != std::string_view::npos) {
    if (pending_.empty()) {
      append_line(out, data.substr(0, newline), true);
    } else {
      pending_.append(data.substr(0, newline));
      append_line(out, pending_, true);
      pending_.clear();
    }
    data.remove_prefix(newline + 1);
  }
  pending_.append(data);
  if (pending_.size() >= kMaxLine) {
    append_line(out, pending_, !prefix_.empty());
    pending_.clear();
  }
  if (!out.empty()) sink_->write(out);
}

void LineForwarder::finish() {
  if (pending_.empty()) return;
  std::string out;
  append_line(out, pending_, !prefix_.empty());
  pending_.clear();
  sink_->write(out);
}

}  // namespace tandemrun
