#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "util/env.h"

namespace tdm::log {

namespace {

struct Settings {
  Level level = Level::kWarn;
  std::string subsys = "ALL";
};

const Settings& settings() {
  static const Settings s = [] {
    Settings out;
    if (auto v = env::get("TANDEM_DEBUG")) {
      if (*v == "INFO")
        out.level = Level::kInfo;
      else if (*v == "TRACE")
        out.level = Level::kTrace;
      else if (*v == "NONE")
        out.level = Level::kNone;
      else
        out.level = Level::kWarn;
    }
    if (auto v = env::get("TANDEM_DEBUG_SUBSYS")) out.subsys = *v;
    return out;
  }();
  return s;
}

std::atomic<int> g_rank{-1};

}  // namespace

void set_rank(int rank) { g_rank.store(rank, std::memory_order_relaxed); }

bool enabled(Level level, std::string_view subsys) {
  const Settings& s = settings();
  if (static_cast<int>(level) > static_cast<int>(s.level)) return false;
  if (level == Level::kWarn || s.subsys == "ALL") return true;
  return s.subsys.find(subsys) != std::string::npos;
}

void write(Level level, std::string_view subsys, const std::string& line) {
  static const char* names[] = {"", "WARN", "INFO", "TRACE"};
  char host[64] = {0};
  gethostname(host, sizeof(host) - 1);
  std::fprintf(stderr, "%s:%d:%d [tandem %s %.*s] %s\n", host, static_cast<int>(getpid()),
               g_rank.load(std::memory_order_relaxed), names[static_cast<int>(level)],
               static_cast<int>(subsys.size()), subsys.data(), line.c_str());
}

}  // namespace tdm::log
