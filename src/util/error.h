// Errors inside Tandem are exceptions carrying a tdmResult_t and a sentence;
// the C boundary (src/api/guard.h) turns them into a result code plus the
// thread's last-error text.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "tandem/tandem.h"

namespace tdm {

class Error : public std::runtime_error {
 public:
  Error(tdmResult_t code, std::string message) : std::runtime_error(message), code_(code) {}
  tdmResult_t code() const { return code_; }

 private:
  tdmResult_t code_;
};

// A connection to rank `rank` broke (its process exited or aborted). Thrown
// unresolved where only that link is known (transports): the executor turns
// it into Bootstrap::peer_went_away, which finds the rank that died first
// (`rank` may have gone only because it saw an earlier death) and throws it
// resolved, which nothing resolves again.
class PeerGoneError : public Error {
 public:
  PeerGoneError(int rank, bool resolved, std::string message)
      : Error(tdmRemoteError, std::move(message)), rank_(rank), resolved_(resolved) {}
  int rank() const { return rank_; }
  bool resolved() const { return resolved_; }

 private:
  int rank_;
  bool resolved_;
};

// Builds the message from streamable parts: throw_error(tdmInvalidArgument, "bad root ", root).
template <typename... Parts>
[[noreturn]] void throw_error(tdmResult_t code, const Parts&... parts);

// errno-based system error: "what: strerror(errno)".
[[noreturn]] void throw_system_error(const std::string& what, int err);

// The calling thread's last error sentence (tdmGetLastError).
void set_last_error(const std::string& message);
const char* last_error();

}  // namespace tdm

#include <sstream>

namespace tdm {
template <typename... Parts>
[[noreturn]] void throw_error(tdmResult_t code, const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw Error(code, out.str());
}
}  // namespace tdm
