#include "camreg/device_query.hpp"

#include "camreg/site.hpp"

namespace camreg {

bool valid_device_type(std::string_view value) {
  if (value.empty() || value.size() > 64) return false;
  for (const char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<DeviceQuery> parse_device_query(const QueryParams& params) {
  DeviceQuery query;
  bool seen_type = false;
  bool seen_active = false;
  bool seen_site = false;
  for (const auto& [name, value] : params) {
    if (name == "device_type") {
      if (seen_type) return fail(ErrorKind::invalid_argument, "device_type: given more than once");
      seen_type = true;
      if (!valid_device_type(value)) {
        return fail(ErrorKind::invalid_argument,
                    "device_type: must be 1-64 characters of letters, digits, '_', '-' or '.'");
      }
      query.device_type = value;
    } else if (name == "active_only") {
      if (seen_active)
        return fail(ErrorKind::invalid_argument, "active_only: given more than once");
      seen_active = true;
      if (value == "true" || value == "1")
        query.active_only = true;
      else if (value == "false" || value == "0")
        query.active_only = false;
      else
        return fail(ErrorKind::invalid_argument, "active_only: must be true, false, 1 or 0");
    } else if (name == "site") {
      if (seen_site) return fail(ErrorKind::invalid_argument, "site: given more than once");
      seen_site = true;
      if (!valid_site_name(value)) {
        return fail(ErrorKind::invalid_argument, "site: must be " + std::string(site_name_rule));
      }
      query.site = value;
    } else {
      std::string shown = name.substr(0, 64);
      return fail(ErrorKind::invalid_argument,
                  shown + ": unknown query parameter (expected device_type, site, active_only)");
    }
  }
  return query;
}

} // namespace camreg
