#pragma once

#include <string>
#include <utility>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/result.hpp"

namespace camreg {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// 1-64 characters of [A-Za-z0-9_.-].
bool valid_device_type(std::string_view value);

// Reads the query of GET /api/devices from decoded parameters: device_type (1-64
// characters of [A-Za-z0-9_.-]), site (a site name) and active_only (true|false|1|0, default
// false). An unknown, repeated or malformed parameter fails with invalid_argument whose message
// starts with the parameter's name.
Result<DeviceQuery> parse_device_query(const QueryParams& params);

} // namespace camreg
