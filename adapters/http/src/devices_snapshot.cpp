#include "devices_snapshot.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <tuple>

#include "camreg/api_json.hpp"
#include "camreg/hash.hpp"

namespace camreg::http::detail {

namespace {

// zlib's gzip header when none is set: ID1 ID2 CM FLG MTIME(4) XFL OS. The first block's
// deflate data starts after it.
constexpr std::size_t gzip_header_size = 10;
// A block ends after this many objects or bytes of JSON, whichever comes first: ~220 kB
// at 100,000 cameras, so one device inflates ~110 kB on average, and a full flush every
// ~25 kB of gzip costs well under 1 % of the gzip's size.
constexpr std::size_t default_objects_per_block = 256;
constexpr std::size_t max_block_bytes = 1 << 20;

// Renders devices into blocks of the array as they come, batch by batch, and deflates
// each block as it is complete; the index and ETag when the last has come.
class DevicesSnapshotBuilder final : public RegistryView::SnapshotBuilder {
 public:
  // expected: the devices and gzip size to reserve for (the previous snapshot's).
  DevicesSnapshotBuilder(std::size_t expected_devices, std::size_t expected_gzip,
                         std::size_t objects_per_block)
      : snapshot_(std::make_shared<DevicesSnapshot>()),
        body_(std::make_shared<CompressedJson>()),
        objects_per_block_(std::max<std::size_t>(objects_per_block, 1)) {
    // Level 2: the whole answer is compressed again after every round. At 100,000
    // cameras (86 MB) level 6 took 430-600 ms of a 2 s rebuild for 5.1 MB; level 2 takes
    // 230 ms for 6.3 MB.
    if (deflateInit2(&zs_, 2, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::bad_alloc();
    body_->gzip.reserve(expected_gzip + expected_gzip / 16);
    snapshot_->objects.reserve(expected_devices);
    snapshot_->samples.reserve(expected_devices);
    body_->blocks.push_back({gzip_header_size, 0});
    block_ += '[';
  }
  ~DevicesSnapshotBuilder() override { deflateEnd(&zs_); }
  DevicesSnapshotBuilder(const DevicesSnapshotBuilder&) = delete;
  DevicesSnapshotBuilder& operator=(const DevicesSnapshotBuilder&) = delete;

  void add(std::vector<Device>& batch) override { render(batch); }

  void render(const std::vector<Device>& batch) {
    for (const auto& d : batch) {
      if (!snapshot_->objects.empty()) block_ += ',';
      const auto at = block_.size();
      append_device_json(block_, d);
      snapshot_->objects.push_back(
          {d.device_key, d.device_type, block_offset_ + at, block_.size() - at});
      snapshot_->samples.push_back(sample_of(d));
      if (++in_block_ == objects_per_block_ || block_.size() >= max_block_bytes) {
        compress(Z_FULL_FLUSH);
        body_->blocks.push_back({body_->gzip.size(), block_offset_});
      }
    }
  }

  RegistryView::SnapshotPtr finish() override {
    block_ += ']';
    compress(Z_FINISH);
    auto& gz = body_->gzip;
    // The first block's offset assumes zlib's plain header (no name, comment or extra).
    if (gz.size() < gzip_header_size || static_cast<unsigned char>(gz[3]) != 0)
      throw std::runtime_error("unexpected gzip header");
    if (gz.capacity() > gz.size() + gz.size() / 8) gz.shrink_to_fit();
    body_->blocks.shrink_to_fit();
    body_->json_size = block_offset_;
    // The repository lists by device_key (COLLATE "C") then device_type; should a type's
    // collation ever order differently, the index is sorted here, never searched unsorted.
    const auto by_position = [](const DevicesSnapshot::Object& a,
                                const DevicesSnapshot::Object& b) {
      return std::tie(a.device_key, a.device_type) < std::tie(b.device_key, b.device_type);
    };
    auto& objects = snapshot_->objects;
    if (!std::is_sorted(objects.begin(), objects.end(), by_position)) {
      // The samples follow their objects.
      std::vector<std::size_t> order(objects.size());
      for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
      std::sort(order.begin(), order.end(),
                [&](std::size_t a, std::size_t b) { return by_position(objects[a], objects[b]); });
      std::vector<DevicesSnapshot::Object> sorted_objects;
      std::vector<DeviceSample> sorted_samples;
      sorted_objects.reserve(order.size());
      sorted_samples.reserve(order.size());
      for (const auto i : order) {
        sorted_objects.push_back(std::move(objects[i]));
        sorted_samples.push_back(std::move(snapshot_->samples[i]));
      }
      objects = std::move(sorted_objects);
      snapshot_->samples = std::move(sorted_samples);
    }
    char etag[48];
    std::snprintf(etag, sizeof etag, "\"%016llx-%zx\"",
                  static_cast<unsigned long long>(hash_.value()), hash_.size());
    snapshot_->etag = etag;
    snapshot_->body = std::move(body_);
    return std::move(snapshot_);
  }

 private:
  // Deflates the block written so far (flush: Z_FULL_FLUSH ends a block, Z_FINISH the
  // stream), a bounded piece of output at a time, and starts the next block.
  void compress(int flush) {
    hash_.add(block_);
    block_offset_ += block_.size();
    zs_.next_in = reinterpret_cast<Bytef*>(block_.data());
    zs_.avail_in = static_cast<uInt>(block_.size());
    auto& gz = body_->gzip;
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(out_);
      zs_.avail_out = sizeof out_;
      const int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("deflate failed");
      const auto produced = sizeof out_ - zs_.avail_out;
      // Grown by half, not doubled: a string doubling keeps its excess.
      if (gz.size() + produced > gz.capacity())
        gz.reserve(std::max(gz.size() + produced, gz.capacity() + gz.capacity() / 2));
      gz.append(out_, produced);
      if (flush == Z_FINISH ? rc == Z_STREAM_END : zs_.avail_out != 0) break;
    }
    block_.clear();
    in_block_ = 0;
  }

  std::shared_ptr<DevicesSnapshot> snapshot_;
  std::shared_ptr<CompressedJson> body_;
  std::size_t objects_per_block_;
  z_stream zs_{};
  std::string block_;            // the block's JSON not yet deflated
  std::size_t block_offset_ = 0; // where block_ starts in the JSON
  std::size_t in_block_ = 0;     // objects in block_
  Hasher64 hash_;                // of the JSON, for the ETag
  char out_[64 << 10];
};

} // namespace

struct JsonReader::State {
  z_stream zs{};
  char skipped[16 << 10];
};

JsonReader::JsonReader(const CompressedJson& json)
    : json_(json), state_(std::make_unique<State>()) {
  if (inflateInit2(&state_->zs, -15) != Z_OK) throw std::bad_alloc();
}

JsonReader::~JsonReader() {
  inflateEnd(&state_->zs);
}

void JsonReader::start(std::size_t block) {
  auto& zs = state_->zs;
  if (inflateReset(&zs) != Z_OK) throw std::runtime_error("inflateReset failed");
  const auto offset = json_.blocks[block].gzip_offset;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(json_.gzip.data() + offset));
  zs.avail_in = static_cast<uInt>(json_.gzip.size() - offset);
  position_ = json_.blocks[block].json_offset;
  started_ = true;
}

void JsonReader::inflate_into(char* out, std::size_t size) {
  auto& zs = state_->zs;
  zs.next_out = reinterpret_cast<Bytef*>(out);
  zs.avail_out = static_cast<uInt>(size);
  while (zs.avail_out != 0) {
    const int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && (rc != Z_STREAM_END || zs.avail_out != 0))
      throw std::runtime_error("inflate of a snapshot failed");
  }
  position_ += size;
}

void JsonReader::read(std::size_t from, std::size_t to, std::string& out) {
  to = std::min(to, json_.json_size);
  if (from >= to) return;
  const auto block_of = [&](std::size_t offset) {
    const auto it = std::upper_bound(
        json_.blocks.begin(), json_.blocks.end(), offset,
        [](std::size_t o, const CompressedJson::Block& b) { return o < b.json_offset; });
    return static_cast<std::size_t>(it - json_.blocks.begin()) - 1;
  };
  // Forward within reach of the stream's position, else from the block holding from.
  if (!started_ || from < position_ || block_of(from) > block_of(position_)) start(block_of(from));
  while (position_ < from) {
    inflate_into(state_->skipped, std::min(from - position_, sizeof state_->skipped));
  }
  const auto used = out.size();
  out.resize(used + (to - from));
  inflate_into(out.data() + used, to - from);
}

void CompressedJson::read(std::size_t from, std::size_t to, std::string& out) const {
  JsonReader(*this).read(from, to, out);
}

RegistryView::Builder devices_snapshot_builder() {
  return [](const RegistryView::SnapshotPtr& previous) {
    const auto* last = static_cast<const DevicesSnapshot*>(previous.get());
    return std::make_unique<DevicesSnapshotBuilder>(
        last ? last->objects.size() : 0, last && last->body ? last->body->gzip.size() : 0,
        default_objects_per_block);
  };
}

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices,
                                                              std::size_t objects_per_block) {
  DevicesSnapshotBuilder builder(devices.size(), 0, objects_per_block);
  builder.render(devices);
  return std::static_pointer_cast<const DevicesSnapshot>(builder.finish());
}

std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices) {
  return build_devices_snapshot(devices, default_objects_per_block);
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

std::string DevicesSnapshot::object_json(const Object& object) const {
  std::string json;
  json.reserve(object.size);
  body->read(object.offset, object.offset + object.size, json);
  return json;
}

std::string page_json(const DevicesSnapshot& snapshot, std::size_t first, std::size_t count) {
  const auto end = std::min(snapshot.objects.size(), first + count);
  std::size_t size = 2;
  for (auto i = first; i < end; ++i)
    size += snapshot.objects[i].size + 1;
  std::string page;
  page.reserve(size);
  page += '[';
  // Objects in index order are in the array's order: one reader goes forward through
  // the blocks they span.
  JsonReader reader(*snapshot.body);
  for (auto i = first; i < end; ++i) {
    if (i != first) page += ',';
    const auto& o = snapshot.objects[i];
    reader.read(o.offset, o.offset + o.size, page);
  }
  page += ']';
  return page;
}

std::string gzip(std::string_view data) {
  // Into a string that grows with the output, a chunk at a time: a buffer of
  // deflateBound (the input's size) would be kept, mostly empty.
  z_stream zs{};
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
