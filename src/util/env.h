// TANDEM_* environment knobs. Every knob is read through these helpers so the
// names stay greppable and a bad value fails the call that reads it: a value
// that is malformed, negative where a count is asked, out of the range the
// caller accepts, overflowing, non-finite or not in a fixed vocabulary throws
// tdmInvalidArgument with a sentence naming the variable, the value and what
// is accepted. An unset or empty variable gives the fallback, which need not
// lie in the range (callers use it as "not set").
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace tdm::env {

std::optional<std::string> get(std::string_view name);
// Decimal integer in [min, max] (an optional leading '-', nothing else).
// Callers that store an int pass INT_MAX, so nothing is truncated later.
int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max);
// Finite decimal number in [min, max] ("nan", "inf" and overflow rejected).
double get_double(std::string_view name, double fallback, double min, double max);
// 1/true/yes/on or 0/false/no/off.
bool get_bool(std::string_view name, bool fallback);
// Byte count in [min, max]: decimal digits or 0x hex, with an optional binary
// suffix K, M or G (either case); no sign, no overflow in the suffix's shift.
uint64_t get_size(std::string_view name, uint64_t fallback, uint64_t min, uint64_t max);
// One of `accepted`, compared exactly.
std::string get_choice(std::string_view name, std::string_view fallback,
                       std::initializer_list<std::string_view> accepted);

// Value grammars alone, for callers that have the text and for the fuzzer;
// `name` only goes into the error.
int64_t parse_int(std::string_view name, std::string_view text, int64_t min, int64_t max);
double parse_double(std::string_view name, std::string_view text, double min, double max);
uint64_t parse_size(std::string_view name, std::string_view text, uint64_t min, uint64_t max);

// TANDEM_TIMEOUT in seconds (default 1800): how long any wait on a peer may
// last; in [kMinTimeout, kMaxTimeout].
inline constexpr double kMinTimeout = 1e-3;
// About 115 days: far from the ~292 years a steady_clock in nanoseconds holds.
inline constexpr double kMaxTimeout = 1e7;
double timeout_seconds();

}  // namespace tdm::env
