// Logging controlled by TANDEM_DEBUG=NONE|WARN|INFO|TRACE and TANDEM_DEBUG_SUBSYS
// (comma-separated: INIT,BOOT,TRANSPORT,TOPO,CUDA,SHMEM,API, or ALL). Lines go to stderr prefixed
// with host:pid and the rank when known.
#pragma once

#include <sstream>
#include <string_view>

namespace tdm::log {

enum class Level { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

bool enabled(Level level, std::string_view subsys);
void write(Level level, std::string_view subsys, const std::string& line);
void set_rank(int rank);
// Throws tdmInvalidArgument if TANDEM_DEBUG or TANDEM_DEBUG_SUBSYS holds a value
// outside its vocabulary (logging itself warns once and uses the defaults).
void check_env();

template <typename... Parts>
void emit(Level level, std::string_view subsys, const Parts&... parts) {
  if (!enabled(level, subsys)) return;
  std::ostringstream out;
  (out << ... << parts);
  write(level, subsys, out.str());
}

}  // namespace tdm::log

#define TDM_WARN(subsys, ...) ::tdm::log::emit(::tdm::log::Level::kWarn, subsys, __VA_ARGS__)
#define TDM_INFO(subsys, ...) ::tdm::log::emit(::tdm::log::Level::kInfo, subsys, __VA_ARGS__)
#define TDM_TRACE(subsys, ...) ::tdm::log::emit(::tdm::log::Level::kTrace, subsys, __VA_ARGS__)
