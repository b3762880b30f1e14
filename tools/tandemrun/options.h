// Command-line parsing for tandemrun.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tandemrun {

inline constexpr const char* kUsage =
    "usage: tandemrun -n N [--timeout SECONDS] [--no-prefix] [-x VAR[=VALUE]]... [--] cmd "
    "[args...]";

struct Options {
  int nprocs = 0;
  double timeout_seconds = 0;  // 0: no limit
  bool prefix = true;
  // -x VAR=VALUE sets VAR; -x VAR (no value) forwards it, which inheritance already does.
  std::vector<std::pair<std::string, std::optional<std::string>>> exports;
  std::vector<std::string> command;
};

struct ParseResult {
  std::optional<Options> options;  // set when the command line is good
  bool help = false;               // -h/--help was given
  std::string error;               // why the command line is bad
};

ParseResult parse_options(int argc, const char* const* argv);

}  // namespace tandemrun
