#include "util/env.h"

#include <cstdlib>
#include <string>

#include "util/error.h"

namespace tdm::env {

std::optional<std::string> get(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

int64_t get_int(std::string_view name, int64_t fallback) {
  auto value = get(name);
  if (!value) return fallback;
  char* end = nullptr;
  long long parsed = std::strtoll(value->c_str(), &end, 0);
  if (end == value->c_str() || *end != '\0')
    throw_error(tdmInvalidArgument, name, "='", *value, "' is not an integer");
  return parsed;
}

double get_double(std::string_view name, double fallback) {
  auto value = get(name);
  if (!value) return fallback;
  char* end = nullptr;
  double parsed = std::strtod(value->c_str(), &end);
  if (end == value->c_str() || *end != '\0')
    throw_error(tdmInvalidArgument, name, "='", *value, "' is not a number");
  return parsed;
}

bool get_bool(std::string_view name, bool fallback) {
  auto value = get(name);
  if (!value) return fallback;
  const std::string& v = *value;
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw_error(tdmInvalidArgument, name, "='", v, "' is not a boolean (use 0 or 1)");
}

uint64_t get_size(std::string_view name, uint64_t fallback) {
  auto value = get(name);
  if (!value) return fallback;
  char* end = nullptr;
  unsigned long long parsed = std::strtoull(value->c_str(), &end, 0);
  if (end == value->c_str()) throw_error(tdmInvalidArgument, name, "='", *value, "' is not a size");
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      parsed <<= 10;
      ++end;
      break;
    case 'm':
    case 'M':
      parsed <<= 20;
      ++end;
      break;
    case 'g':
    case 'G':
      parsed <<= 30;
      ++end;
      break;
    default:
      throw_error(tdmInvalidArgument, name, "='", *value, "' is not a size");
  }
  if (*end != '\0') throw_error(tdmInvalidArgument, name, "='", *value, "' is not a size");
  return parsed;
}

double timeout_seconds() {
  double seconds = get_double("TANDEM_TIMEOUT", 1800.0);
  if (seconds <= 0) throw_error(tdmInvalidArgument, "TANDEM_TIMEOUT must be positive");
  return seconds;
}

}  // namespace tdm::env
