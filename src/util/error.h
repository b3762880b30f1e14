// Errors inside Tandem are exceptions carrying a tdmResult_t and a sentence;
// the C boundary (src/api/guard.h) turns them into a result code plus the
// thread's last-error text.
#pragma once

#include <stdexcept>
#include <string>

#include "tandem/tandem.h"

namespace tdm {

class Error : public std::runtime_error {
 public:
  Error(tdmResult_t code, std::string message) : std::runtime_error(message), code_(code) {}
  tdmResult_t code() const { return code_; }

 private:
  tdmResult_t code_;
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
