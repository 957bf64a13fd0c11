#pragma once

#include <optional>

#include "camreg/json_writer.hpp"
#include "camreg/time.hpp"

namespace camreg::detail {

// A time in the registry's JSON (answers, event payloads): RFC 3339 UTC, null when absent.
inline void write_time(JsonWriter& w, TimePoint t) {
  w.string(format_rfc3339(t));
}
inline void write_time(JsonWriter& w, const std::optional<TimePoint>& t) {
  if (t)
    write_time(w, *t);
  else
    w.null();
}

} // namespace camreg::detail
