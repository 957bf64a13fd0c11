#include "routes.hpp"

namespace camreg::http::detail {

bool match_path(std::string_view pattern, std::string_view path, PathParams& params) {
  params.clear();
  for (;;) {
    const auto open = pattern.find('{');
    if (open == std::string_view::npos) return pattern == path;
    if (path.substr(0, open) != pattern.substr(0, open)) return false;
    pattern.remove_prefix(open);
    path.remove_prefix(open);
    const auto close = pattern.find('}');
    if (close == std::string_view::npos) return false;
    auto name = pattern.substr(1, close - 1);
    pattern.remove_prefix(close + 1);
    std::string_view value;
    if (name.ends_with("...")) {
      // The rest of the path, less a literal tail the pattern ends with ("/history").
      name.remove_suffix(3);
      if (pattern.empty()) {
        value = path;
      } else {
        if (pattern.find('{') != std::string_view::npos || !path.ends_with(pattern) ||
            path.size() <= pattern.size())
          return false;
        value = path.substr(0, path.size() - pattern.size());
      }
    } else {
      value = path.substr(0, path.find('/'));
    }
    if (value.empty()) return false;
    path.remove_prefix(value.size());
    params.emplace_back(name, value);
  }
}

std::string_view param(const PathParams& params, std::string_view name) {
  for (const auto& [n, value] : params) {
    if (n == name) return value;
  }
  return {};
}

} // namespace camreg::http::detail
