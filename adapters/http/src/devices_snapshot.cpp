#include "devices_snapshot.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "camreg/api_json.hpp"
#include "camreg/hash.hpp"
#include "camreg/json_writer.hpp"

namespace camreg::http::detail {

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices) {
  auto snapshot = std::make_shared<DevicesSnapshot>();
  snapshot->json.reserve(devices.size() * 900 + 2);
  snapshot->objects.reserve(devices.size());
  snapshot->samples.reserve(devices.size());
  JsonWriter out(snapshot->json);
  std::string object;
  out.begin_array();
  for (const auto& d : devices) {
    object.clear();
    append_device_json(object, d);
    out.raw(object);
    snapshot->objects.push_back(
        {d.device_key, d.device_type, snapshot->json.size() - object.size(), object.size()});
    snapshot->samples.push_back(sample_of(d));
  }
  out.end_array();
  // The repository lists by device_key (COLLATE "C") then device_type; should a type's
  // collation ever order differently, the index is sorted here, never searched unsorted.
  const auto by_position = [](const DevicesSnapshot::Object& a, const DevicesSnapshot::Object& b) {
    return std::tie(a.device_key, a.device_type) < std::tie(b.device_key, b.device_type);
  };
  if (!std::is_sorted(snapshot->objects.begin(), snapshot->objects.end(), by_position))
    std::sort(snapshot->objects.begin(), snapshot->objects.end(), by_position);
  snapshot->gzip = gzip(snapshot->json);
  snapshot->etag = etag_of(snapshot->json);
  return snapshot;
}

const DevicesSnapshot::Object* DevicesSnapshot::find(std::string_view key) const {
  const auto it =
      std::lower_bound(objects.begin(), objects.end(), key,
                       [](const Object& o, std::string_view k) { return o.device_key < k; });
  return it != objects.end() && it->device_key == key ? &*it : nullptr;
}

std::size_t DevicesSnapshot::after(std::string_view key, std::string_view type) const {
  const auto it = std::upper_bound(
      objects.begin(), objects.end(), std::pair(key, type),
      [](const std::pair<std::string_view, std::string_view>& p, const Object& o) {
        return p < std::pair<std::string_view, std::string_view>(o.device_key, o.device_type);
      });
  return static_cast<std::size_t>(it - objects.begin());
}

std::string page_json(const DevicesSnapshot& snapshot, std::size_t first, std::size_t count) {
  const auto end = std::min(snapshot.objects.size(), first + count);
  std::size_t size = 2;
  for (auto i = first; i < end; ++i)
    size += snapshot.objects[i].size + 1;
  std::string page;
  page.reserve(size);
  page += '[';
  const std::string_view json = snapshot.json;
  for (auto i = first; i < end; ++i) {
    if (i != first) page += ',';
    page += json.substr(snapshot.objects[i].offset, snapshot.objects[i].size);
  }
  page += ']';
  return page;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

std::string etag_of(std::string_view body) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"%016llx-%zx\"", static_cast<unsigned long long>(fnv1a_64(body)),
                body.size());
  return buf;
}

} // namespace camreg::http::detail
