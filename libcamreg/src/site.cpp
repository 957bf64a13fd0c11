#include "camreg/site.hpp"

#include <algorithm>

namespace camreg {

bool valid_site_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string device_key_for(std::string_view site, std::string_view path_name) {
  if (site == default_site) return std::string(path_name);
  std::string key;
  key.reserve(site.size() + 1 + path_name.size());
  key.append(site).push_back(site_separator);
  key.append(path_name);
  return key;
}

} // namespace camreg
