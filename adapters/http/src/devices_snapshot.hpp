#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/registry_view.hpp"
#include "metrics.hpp"

namespace camreg::http::detail {

// One /api/devices answer, serialised once per change: the JSON array, its gzip and
// its ETag, and where each device's object sits inside the array.
struct DevicesSnapshot final : RegistryView::Snapshot {
  std::string json;
  std::string gzip; // empty when compression failed
  std::string etag; // strong, quoted
  // device_key -> offset and length of the device's object inside json (the first of
  // that key).
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> objects;
  std::vector<DeviceSample> samples; // what /metrics shows of each device, in order
};

// The RegistryView builder of the HTTP API.
std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices);

// data as a gzip stream, or empty when zlib fails.
std::string gzip(std::string_view data);

// A strong ETag of body: "<fnv1a-64 hex>-<size hex>".
std::string etag_of(std::string_view body);

} // namespace camreg::http::detail
