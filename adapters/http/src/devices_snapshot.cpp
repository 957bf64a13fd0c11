#include "devices_snapshot.hpp"

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

// The size of devices' objects in the array, nearly.
std::size_t estimate_json(const std::vector<Device>& devices) {
  std::size_t estimate = 0;
  for (const auto& d : devices)
    estimate += 260 + (d.counters ? 80 : 0) + d.metadata_json.size() + d.device_key.size() +
                d.device_type.size() + d.name.size();
  return estimate;
}

// Renders devices into the array as they come, batch by batch; the index, gzip and ETag
// when the last has come.
class DevicesSnapshotBuilder final : public RegistryView::SnapshotBuilder {
 public:
  // expected: the devices and JSON size to reserve for (the previous snapshot's): a
  // buffer that grows doubles and copies itself, and keeps the excess.
  DevicesSnapshotBuilder(std::size_t expected_devices, std::size_t expected_json)
      : snapshot_(std::make_shared<DevicesSnapshot>()), out_(snapshot_->json) {
    reserve(expected_json + expected_json / 64 + 2);
    snapshot_->objects.reserve(expected_devices);
    snapshot_->samples.reserve(expected_devices);
    out_.begin_array();
  }

  void add(std::vector<Device>& batch) override { render(batch); }

  void render(const std::vector<Device>& batch) {
    if (const auto needed = snapshot_->json.size() + estimate_json(batch) + 1;
        needed > snapshot_->json.capacity())
      reserve(std::max(needed, snapshot_->json.capacity() + snapshot_->json.capacity() / 2));
    for (const auto& d : batch) {
      object_.clear();
      append_device_json(object_, d);
      out_.raw(object_);
      snapshot_->objects.push_back(
          {d.device_key, d.device_type, snapshot_->json.size() - object_.size(), object_.size()});
      snapshot_->samples.push_back(sample_of(d));
    }
  }

  RegistryView::SnapshotPtr finish() override {
    out_.end_array();
    auto& json = snapshot_->json;
    if (json.capacity() > json.size() + json.size() / 8) json.shrink_to_fit();
    // The repository lists by device_key (COLLATE "C") then device_type; should a type's
    // collation ever order differently, the index is sorted here, never searched unsorted.
    const auto by_position = [](const DevicesSnapshot::Object& a,
                                const DevicesSnapshot::Object& b) {
      return std::tie(a.device_key, a.device_type) < std::tie(b.device_key, b.device_type);
    };
    if (!std::is_sorted(snapshot_->objects.begin(), snapshot_->objects.end(), by_position))
      std::sort(snapshot_->objects.begin(), snapshot_->objects.end(), by_position);
    snapshot_->gzip = gzip(json);
    snapshot_->etag = etag_of(json);
    return std::move(snapshot_);
  }

 private:
  // Grows the array to capacity at once, moving what is written: std::string would
  // double it (and keep the excess).
  void reserve(std::size_t capacity) {
    auto& json = snapshot_->json;
    if (capacity <= json.capacity()) return;
    std::string grown;
    grown.reserve(capacity);
    advise_huge_pages(grown.data(), grown.capacity());
    grown.append(json);
    json.swap(grown);
  }

  std::shared_ptr<DevicesSnapshot> snapshot_;
  JsonWriter out_;
  std::string object_;
};

} // namespace

RegistryView::Builder devices_snapshot_builder() {
  return [](const RegistryView::SnapshotPtr& previous) {
    const auto* last = static_cast<const DevicesSnapshot*>(previous.get());
    return std::make_unique<DevicesSnapshotBuilder>(last ? last->objects.size() : 0,
                                                    last ? last->json.size() : 0);
  };
}

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices) {
  DevicesSnapshotBuilder builder(devices.size(), estimate_json(devices));
  builder.render(devices);
  return std::static_pointer_cast<const DevicesSnapshot>(builder.finish());
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
