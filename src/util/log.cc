#include "util/log.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <string>

#include "util/env.h"
#include "util/error.h"

namespace tdm::log {

namespace {

struct Settings {
  Level level = Level::kWarn;
  std::string subsys = "ALL";
};

constexpr std::array<std::string_view, 8> kSubsystems = {"ALL",  "INIT", "BOOT",  "TRANSPORT",
                                                         "TOPO", "CUDA", "SHMEM", "API"};

// Throws tdmInvalidArgument naming the variable on a value outside the vocabulary.
Settings settings_from_env() {
  Settings out;
  const std::string level =
      env::get_choice("TANDEM_DEBUG", "WARN", {"NONE", "WARN", "INFO", "TRACE"});
  if (level == "NONE") out.level = Level::kNone;
  if (level == "INFO") out.level = Level::kInfo;
  if (level == "TRACE") out.level = Level::kTrace;
  if (auto v = env::get("TANDEM_DEBUG_SUBSYS")) {
    std::string_view rest = *v;
    while (true) {
      const size_t comma = rest.find(',');
      const std::string_view one = rest.substr(0, comma);
      if (std::find(kSubsystems.begin(), kSubsystems.end(), one) == kSubsystems.end()) {
        std::string known;
        for (std::string_view s : kSubsystems)
          known += (known.empty() ? "" : ", ") + std::string(s);
        throw_error(tdmInvalidArgument, "TANDEM_DEBUG_SUBSYS='", *v, "' names '", one,
                    "', which is not one of ", known, " (a comma-separated list)");
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    out.subsys = *v;
  }
  return out;
}

// Logging cannot throw (it runs in destructors and error paths): a bad value
// gives one warning here and the defaults; check_env() at communicator init
// turns it into an error of the init call.
const Settings& settings() {
  static const Settings s = [] {
    try {
      return settings_from_env();
    } catch (const Error& e) {
      std::fprintf(stderr, "[tandem WARN INIT] %s; logging at WARN for ALL\n", e.what());
      return Settings{};
    }
  }();
  return s;
}

std::atomic<int> g_rank{-1};

}  // namespace

void check_env() { settings_from_env(); }

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
