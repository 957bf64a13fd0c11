#pragma once

#include <string>
#include <string_view>

namespace camreg {

// Appends value as a JSON string literal. Control characters are escaped; invalid
// UTF-8 and NUL (which jsonb cannot store) become U+FFFD, so the output is always
// valid JSON and valid jsonb.
void append_json_string(std::string& out, std::string_view value);

} // namespace camreg
