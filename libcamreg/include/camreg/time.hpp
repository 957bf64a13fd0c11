#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "camreg/result.hpp"

namespace camreg {

// Every instant camreg stores: UTC, microseconds (PostgreSQL's timestamptz precision,
// so a value survives a round trip through the database unchanged).
using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Duration>;

// "2026-11-24T21:45:56.123456Z"; the fraction is omitted when zero.
std::string format_rfc3339(TimePoint t);

// Accepts every RFC 3339 variant Go's RFC3339Nano emits: 0-9 fraction digits,
// "Z" or a "+hh:mm"/"-hh:mm" offset. Digits past microseconds are truncated.
Result<TimePoint> parse_rfc3339(std::string_view text);

} // namespace camreg
