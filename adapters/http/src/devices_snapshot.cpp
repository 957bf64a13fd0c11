#include "devices_snapshot.hpp"

#include <zlib.h>

#include <cstdio>

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
    snapshot->objects.try_emplace(d.device_key, snapshot->json.size() - object.size(),
                                  object.size());
    snapshot->samples.push_back(sample_of(d));
  }
  out.end_array();
  snapshot->gzip = gzip(snapshot->json);
  snapshot->etag = etag_of(snapshot->json);
  return snapshot;
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
