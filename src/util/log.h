// Logging controlled by TANDEM_DEBUG=WARN|INFO|TRACE and TANDEM_DEBUG_SUBSYS
// (comma-separated: INIT,BOOT,TRANSPORT,COLL,TOPO,API, or ALL). Lines go to stderr prefixed
// with host:pid and the rank when known.
#pragma once

#include <sstream>
#include <string_view>

namespace tdm::log {

enum class Level { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

bool enabled(Level level, std::string_view subsys);
void write(Level level, std::string_view subsys, const std::string& line);
void set_rank(int rank);

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
