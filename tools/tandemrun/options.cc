#include "options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace tandemrun {

namespace {

constexpr int kMaxProcs = 65536;

std::optional<int> parse_count(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < 1 || value > kMaxProcs) return std::nullopt;
  return static_cast<int>(value);
}

std::optional<double> parse_seconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(value) || value <= 0) return std::nullopt;
  return value;
}

}  // namespace

ParseResult parse_options(int argc, const char* const* argv) {
  ParseResult result;
  Options options;
  auto fail = [&](std::string why) {
    result.error = std::move(why);
    return result;
  };

  int i = 1;
  // Takes the value of an option given as `--opt VALUE`, `--opt=VALUE` or, for short
  // options, `-oVALUE`; `attached` is what followed the option name in the same argument.
  auto value_of = [&](std::string_view name, std::string_view attached, std::string& out) -> bool {
    if (!attached.empty()) {
      if (attached.front() == '=') attached.remove_prefix(1);
      out = std::string(attached);
      return true;
    }
    if (i + 1 >= argc) {
      result.error = std::string(name) + " needs a value";
      return false;
    }
    out = argv[++i];
    return true;
  };

  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg.front() != '-') break;  // the command starts here
    std::string value;
    if (arg == "-h" || arg == "--help") {
      result.help = true;
      return result;
    } else if (arg == "--no-prefix") {
      options.prefix = false;
    } else if (arg.starts_with("-np") || arg.starts_with("--np")) {
      std::string_view name = arg.starts_with("--") ? "--np" : "-np";
      if (!value_of(name, arg.substr(name.size()), value)) return result;
      auto n = parse_count(value);
      if (!n)
        return fail("bad process count '" + value + "' (want 1.." + std::to_string(kMaxProcs) +
                    ")");
      options.nprocs = *n;
    } else if (arg.starts_with("-n") && !arg.starts_with("--")) {
      if (!value_of("-n", arg.substr(2), value)) return result;
      auto n = parse_count(value);
      if (!n)
        return fail("bad process count '" + value + "' (want 1.." + std::to_string(kMaxProcs) +
                    ")");
      options.nprocs = *n;
    } else if (arg == "--timeout" || arg.starts_with("--timeout=")) {
      if (!value_of("--timeout", arg.substr(9), value)) return result;
      auto seconds = parse_seconds(value);
      if (!seconds) return fail("bad timeout '" + value + "' (want seconds > 0)");
      options.timeout_seconds = *seconds;
    } else if (arg.starts_with("-x") && !arg.starts_with("--")) {
      if (!value_of("-x", arg.substr(2), value)) return result;
      auto eq = value.find('=');
      std::string name = value.substr(0, eq);
      if (name.empty()) return fail("bad -x '" + value + "' (want VAR or VAR=VALUE)");
      if (eq == std::string::npos)
        options.exports.emplace_back(name, std::nullopt);
      else
        options.exports.emplace_back(name, value.substr(eq + 1));
    } else {
      return fail("unknown option '" + std::string(arg) + "'");
    }
  }

  for (; i < argc; ++i) options.command.emplace_back(argv[i]);
  if (options.nprocs == 0) return fail("-n N is required");
  if (options.command.empty()) return fail("no command given");
  result.options = std::move(options);
  return result;
}

}  // namespace tandemrun
