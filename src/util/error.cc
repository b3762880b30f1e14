#include "util/error.h"

#include <cstring>

namespace tdm {

namespace {
thread_local std::string t_last_error;
}

void throw_system_error(const std::string& what, int err) {
  throw Error(tdmSystemError, what + ": " + std::strerror(err));
}

void set_last_error(const std::string& message) { t_last_error = message; }
const char* last_error() { return t_last_error.c_str(); }

}  // namespace tdm
