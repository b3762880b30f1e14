#include "util/env.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "util/error.h"

namespace tdm::env {

namespace {

// 4096 -> "4K": ranges read as the user writes sizes.
std::string size_text(uint64_t v) {
  constexpr const char* kSuffix[] = {"G", "M", "K"};
  constexpr unsigned kShift[] = {30, 20, 10};
  for (int i = 0; i < 3; ++i)
    if (v != 0 && v % (uint64_t(1) << kShift[i]) == 0)
      return std::to_string(v >> kShift[i]) + kSuffix[i];
  return std::to_string(v);
}

// The whole of `text` as a T, in `base`; nullopt on anything else (sign where
// T is unsigned, trailing characters, overflow).
template <typename T>
std::optional<T> whole(std::string_view text, int base = 10) {
  T out{};
  if (text.empty() || text.front() == '+') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return out;
}

double parse_double_noted(std::string_view name, std::string_view text, double min, double max,
                          std::string_view note) {
  double out = 0;
  bool ok = !text.empty() && text.front() != '+';
  if (ok) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    ok = ec == std::errc() && end == text.data() + text.size() && std::isfinite(out) &&
         out >= min && out <= max;
  }
  if (!ok)
    throw_error(tdmInvalidArgument, name, "='", text, "' is not a number from ", min, " to ", max,
                note);
  return out;
}

}  // namespace

std::optional<std::string> get(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

int64_t parse_int(std::string_view name, std::string_view text, int64_t min, int64_t max) {
  auto v = whole<int64_t>(text);
  if (!v || *v < min || *v > max)
    throw_error(tdmInvalidArgument, name, "='", text, "' is not an integer from ", min, " to ",
                max);
  return *v;
}

double parse_double(std::string_view name, std::string_view text, double min, double max) {
  return parse_double_noted(name, text, min, max, "");
}

uint64_t parse_size(std::string_view name, std::string_view text, uint64_t min, uint64_t max) {
  std::string_view digits = text;
  unsigned shift = 0;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        break;
    }
    if (shift) digits.remove_suffix(1);
  }
  int base = 10;
  if (digits.starts_with("0x") || digits.starts_with("0X")) {
    digits.remove_prefix(2);
    base = 16;
  }
  auto v = whole<uint64_t>(digits, base);
  uint64_t bytes = 0;
  // The shift as a checked multiply: 20000000003870G must not wrap.
  if (!v || __builtin_mul_overflow(*v, uint64_t(1) << shift, &bytes) || bytes < min || bytes > max)
    throw_error(tdmInvalidArgument, name, "='", text, "' is not a size from ", size_text(min),
                " to ", size_text(max), " (bytes, with an optional K, M or G suffix)");
  return bytes;
}

int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) {
  auto value = get(name);
  return value ? parse_int(name, *value, min, max) : fallback;
}

double get_double(std::string_view name, double fallback, double min, double max) {
  auto value = get(name);
  return value ? parse_double(name, *value, min, max) : fallback;
}

bool get_bool(std::string_view name, bool fallback) {
  auto value = get(name);
  if (!value) return fallback;
  const std::string& v = *value;
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw_error(tdmInvalidArgument, name, "='", v, "' is not a boolean (use 0 or 1)");
}

uint64_t get_size(std::string_view name, uint64_t fallback, uint64_t min, uint64_t max) {
  auto value = get(name);
  return value ? parse_size(name, *value, min, max) : fallback;
}

std::string get_choice(std::string_view name, std::string_view fallback,
                       std::initializer_list<std::string_view> accepted) {
  auto value = get(name);
  if (!value) return std::string(fallback);
  std::string known;
  for (std::string_view a : accepted) {
    if (*value == a) return *value;
    known += (known.empty() ? "" : ", ") + std::string(a);
  }
  throw_error(tdmInvalidArgument, name, "='", *value, "' is not one of ", known);
}

double timeout_seconds() {
  auto value = get("TANDEM_TIMEOUT");
  if (!value) return 1800.0;
  return parse_double_noted("TANDEM_TIMEOUT", *value, kMinTimeout, kMaxTimeout,
                            " seconds (the cap keeps every deadline inside steady_clock's range)");
}

}  // namespace tdm::env
