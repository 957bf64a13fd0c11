#pragma once

#include <string_view>
#include <utility>
#include <vector>

namespace camreg::http::detail {

// What a path pattern captured, still percent-encoded: name -> text.
using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;

// Whether path matches pattern. A pattern is literal text with captures: "{name}" takes
// one non-empty segment, "{name...}" the non-empty rest, slashes included, less a literal
// tail that may follow it: "/api/devices/{key...}" matches "/api/devices/site-a/cam_1"
// with key "site-a/cam_1", "/api/devices/{key...}/history" matches
// "/api/devices/site-a/cam_1/history" with the same key.
bool match_path(std::string_view pattern, std::string_view path, PathParams& params);

// The capture called name, or empty.
std::string_view param(const PathParams& params, std::string_view name);

} // namespace camreg::http::detail
