#include "camreg/duration.hpp"

#include <charconv>

namespace camreg {

Result<Duration> parse_duration(std::string_view text) {
  using namespace std::chrono;
  const auto bad = [&](const char* why) {
    return fail(ErrorKind::invalid_argument, "invalid duration \"" +
                                                 std::string(text.substr(0, 32)) + "\": " + why +
                                                 " (use e.g. 500ms, 2s, 5m, 1h or plain seconds)");
  };
  if (text.empty()) return bad("empty");
  unsigned long long count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (end == text.data()) return bad("must start with a non-negative whole number");
  if (ec == std::errc::result_out_of_range) return bad("too large");
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  long long per_unit_us = 0;
  if (unit.empty() || unit == "s")
    per_unit_us = 1'000'000;
  else if (unit == "ms")
    per_unit_us = 1'000;
  else if (unit == "us")
    per_unit_us = 1;
  else if (unit == "m")
    per_unit_us = 60'000'000;
  else if (unit == "h")
    per_unit_us = 3'600'000'000;
  else if (unit == "d")
    per_unit_us = 86'400'000'000;
  else
    return bad("unknown unit");
  constexpr unsigned long long max_us = 3660ULL * 86'400'000'000ULL;
  if (count > max_us / static_cast<unsigned long long>(per_unit_us))
    return bad("longer than ten years");
  return Duration{static_cast<long long>(count) * per_unit_us};
}

std::string format_duration(Duration d) {
  const long long us = d.count();
  if (us % 3'600'000'000 == 0 && us != 0) return std::to_string(us / 3'600'000'000) + "h";
  if (us % 60'000'000 == 0 && us != 0) return std::to_string(us / 60'000'000) + "m";
  if (us % 1'000'000 == 0) return std::to_string(us / 1'000'000) + "s";
  if (us % 1'000 == 0) return std::to_string(us / 1'000) + "ms";
  return std::to_string(us) + "us";
}

} // namespace camreg
