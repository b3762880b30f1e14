// TANDEM_* environment knobs. Every knob is read through these helpers so the
// names stay greppable and malformed values give a clear error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tdm::env {

std::optional<std::string> get(std::string_view name);
// Integer knob; a malformed value throws tdmInvalidArgument naming the variable.
int64_t get_int(std::string_view name, int64_t fallback);
double get_double(std::string_view name, double fallback);
bool get_bool(std::string_view name, bool fallback);
// Size with optional K/M/G suffix (binary).
uint64_t get_size(std::string_view name, uint64_t fallback);

// TANDEM_TIMEOUT in seconds (default 1800): how long any wait on a peer may last.
double timeout_seconds();

}  // namespace tdm::env
