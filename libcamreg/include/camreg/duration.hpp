#pragma once

#include <string>
#include <string_view>

#include "camreg/result.hpp"
#include "camreg/time.hpp"

namespace camreg {

// "500ms", "2s", "5m", "1h", "400d", "250us" or plain seconds ("60"). Negative, empty, fractional,
// unknown units and values over ten years fail with invalid_argument.
Result<Duration> parse_duration(std::string_view text);

// The shortest exact form parse_duration accepts: "5m", "1500ms", "0s".
std::string format_duration(Duration d);

} // namespace camreg
