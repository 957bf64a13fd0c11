#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "camreg/device.hpp"
#include "camreg/registry_view.hpp"
#include "metrics.hpp"

namespace camreg::http::detail {

// One /api/devices answer, serialised once per change: the JSON array, its gzip and
// its ETag, and where each device's object sits inside the array.
struct DevicesSnapshot final : RegistryView::Snapshot {
  // Where one device's object sits inside json.
  struct Object {
    std::string device_key;
    std::string device_type;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  std::string json;
  std::string gzip; // empty when compression failed
  std::string etag; // strong, quoted
  // Every device's object, ordered by device_key then device_type byte by byte (the
  // database's order, checked): one device by key and pages are binary searches.
  std::vector<Object> objects;
  std::vector<DeviceSample> samples; // what /metrics shows of each device, in order

  // The first object of key, or null.
  const Object* find(std::string_view key) const;
  // The index of the first object after (key, type); 0 for none.
  std::size_t after(std::string_view key, std::string_view type) const;
};

// A page of a snapshot: the objects [first, first + count) as a JSON array.
std::string page_json(const DevicesSnapshot& snapshot, std::size_t first, std::size_t count);

// The RegistryView builder of the HTTP API: renders each batch as the repository reads
// it, so only a batch of devices is held at a time (at 100,000 cameras the answer is
// ~100 MB, and the previous snapshot is still being served meanwhile), and the answer is
// ready soon after the last batch.
RegistryView::Builder devices_snapshot_builder();
// The snapshot of devices at once.
std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices);

// data as a gzip stream, or empty when zlib fails.
std::string gzip(std::string_view data);

// A strong ETag of body: "<fnv1a-64 hex>-<size hex>".
std::string etag_of(std::string_view body);

} // namespace camreg::http::detail
