#include "devices_snapshot.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <tuple>

#include "camreg/api_json.hpp"
#include "camreg/hash.hpp"
#include "camreg/json_writer.hpp"

namespace camreg::http::detail {

namespace {

// Asks for transparent huge pages under a large buffer not yet written: at 100,000
// cameras the answer's 86 MB were 21,000 page faults of 4 kB each rebuild, a fifth of
// its time on a virtual machine. Advice only: where THP is off, nothing changes.
void advise_huge_pages(char* data, std::size_t size) {
  constexpr std::uintptr_t huge = 2 << 20;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) & ~(huge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + size) & ~(huge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

// Builds the snapshot; release(i) is called once device i is rendered.
template <class Devices, class Release>
std::shared_ptr<const DevicesSnapshot> build(Devices& devices, Release&& release) {
  auto snapshot = std::make_shared<DevicesSnapshot>();
  // The array's size, nearly: reserving too little would double the buffer (and copy
  // it) near the end, too much would keep the excess as long as the snapshot.
  std::size_t estimate = 2;
  for (const auto& d : devices)
    estimate +=
        260 + d.metadata_json.size() + d.device_key.size() + d.device_type.size() + d.name.size();
  snapshot->json.reserve(estimate);
  advise_huge_pages(snapshot->json.data(), snapshot->json.capacity());
  snapshot->objects.reserve(devices.size());
  snapshot->samples.reserve(devices.size());
  JsonWriter out(snapshot->json);
  std::string object;
  out.begin_array();
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    object.clear();
    append_device_json(object, d);
    out.raw(object);
    snapshot->objects.push_back(
        {d.device_key, d.device_type, snapshot->json.size() - object.size(), object.size()});
    snapshot->samples.push_back(sample_of(d));
    release(i);
  }
  out.end_array();
  if (snapshot->json.capacity() > snapshot->json.size() + snapshot->json.size() / 8)
    snapshot->json.shrink_to_fit();
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

} // namespace

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices) {
  return build(devices, [](std::size_t) {});
}

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(std::vector<Device>&& devices) {
  // Freed devices are small blocks of the heap: glibc keeps them resident until trimmed,
  // so they are trimmed every few thousand (a few ms each), while the answer grows.
  constexpr std::size_t trim_every = 8192;
  auto snapshot = build(devices, [&](std::size_t i) {
    devices[i] = Device{};
    if ((i + 1) % trim_every == 0) malloc_trim(0);
  });
  devices = {};
  malloc_trim(0);
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
  // Into a string that grows with the output, a chunk at a time: a buffer of
  // deflateBound (the input's size) would be kept, mostly empty, as long as the
  // snapshot (100 MB for 10 MB of gzip at 100,000 cameras).
  z_stream zs{};
  // Level 2: the whole answer is compressed again after every round. At 100,000 cameras
  // (86 MB) level 6 took 430-600 ms of a 2 s rebuild for 5.1 MB; level 2 takes 230 ms
  // for 6.3 MB.
  if (deflateInit2(&zs, 2, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  constexpr std::size_t chunk = 256 << 10;
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    const auto used = out.size();
    out.resize(used + chunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs.avail_out = static_cast<uInt>(chunk);
    rc = deflate(&zs, Z_FINISH);
    out.resize(used + chunk - zs.avail_out);
  }
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return {};
  out.shrink_to_fit();
  return out;
}

std::string etag_of(std::string_view body) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "\"%016llx-%zx\"",
                static_cast<unsigned long long>(hash_bytes_64(body)), body.size());
  return buf;
}

} // namespace camreg::http::detail
