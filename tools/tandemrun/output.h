// Forwarding of the ranks' output: whole lines, each written with one call, so
// lines of different ranks never mix.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tandemrun {

// tandemrun's own stdout or stderr. Writes everything it is given (waiting when
// the reader is slow); once the reader is gone (EPIPE) further output is dropped.
class Sink {
 public:
  explicit Sink(int fd) : fd_(fd) {}
  void write(std::string_view data);

 private:
  int fd_;
  bool broken_ = false;
};

// Splits one stream of a rank into lines and writes each to the sink behind
// `prefix` ("[rank] "); with an empty prefix the bytes pass through unchanged.
class LineForwarder {
 public:
  // A line that grows past this without a newline is written in pieces.
  static constexpr size_t kMaxLine = size_t{1} << 20;

  LineForwarder(Sink& sink, std::string prefix) : sink_(&sink), prefix_(std::move(prefix)) {}
  void feed(std::string_view data);
  // End of the stream: writes a partial last line (ended with a newline when prefixed).
  void finish();

 private:
  void append_line(std::string& out, std::string_view line, bool newline) const;

  Sink* sink_;
  std::string prefix_;
  std::string pending_;  // the unfinished last line
};

}  // namespace tandemrun
