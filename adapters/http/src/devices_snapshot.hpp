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

// An answer kept only as its gzip stream, compressed in blocks: the deflate stream is
// fully flushed after every block, so any block can be inflated on its own (raw inflate
// from its offset) without the blocks before it. At 100,000 cameras the JSON is ~86 MB
// and this ~6.5 MB: the JSON is never held whole, only the bytes a reply needs are
// inflated, a bounded piece at a time.
struct CompressedJson {
  // Where one block starts, in the gzip stream and in the JSON.
  struct Block {
    std::size_t gzip_offset = 0;
    std::size_t json_offset = 0;
  };
  std::string gzip;          // the whole answer as sent to a client taking gzip
  std::vector<Block> blocks; // in order; the first at 0 of the JSON
  std::size_t json_size = 0;

  // The JSON's bytes [from, to), appended to out. Throws std::runtime_error when zlib
  // fails (a bug: the stream is ours).
  void read(std::size_t from, std::size_t to, std::string& out) const;
};

// Reads a CompressedJson's JSON forward, a bounded piece at a time; seeks back by
// starting again from a block. Not thread-safe; holds ~55 kB (zlib state, a scratch).
class JsonReader {
 public:
  explicit JsonReader(const CompressedJson& json);
  ~JsonReader();
  JsonReader(const JsonReader&) = delete;
  JsonReader& operator=(const JsonReader&) = delete;

  // Appends the JSON's bytes [from, to) to out.
  void read(std::size_t from, std::size_t to, std::string& out);

 private:
  void start(std::size_t block);
  void inflate_into(char* out, std::size_t size);

  const CompressedJson& json_;
  struct State;
  std::unique_ptr<State> state_;
  std::size_t position_ = 0; // the JSON offset the stream is at
  bool started_ = false;
};

// One /api/devices answer, serialised once per change: its gzip in blocks, its ETag,
// and where each device's object sits inside the array.
struct DevicesSnapshot final : RegistryView::Snapshot {
  // Where one device's object sits inside the JSON array.
  struct Object {
    std::string device_key;
    std::string device_type;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  // Shared with the replies that send it, which keep only this (not the index) alive.
  std::shared_ptr<const CompressedJson> body;
  std::string etag; // strong, quoted: etag_of the JSON
  // Every device's object, ordered by device_key then device_type byte by byte (the
  // database's order, checked): one device by key and pages are binary searches.
  std::vector<Object> objects;
  std::vector<DeviceSample> samples; // what /metrics shows of each object, in its order

  // The first object of key, or null.
  const Object* find(std::string_view key) const;
  // The position of one of objects' elements, that of its sample too.
  std::size_t index_of(const Object& object) const {
    return static_cast<std::size_t>(&object - objects.data());
  }
  // The index of the first object after (key, type); 0 for none.
  std::size_t after(std::string_view key, std::string_view type) const;
  // The JSON of one object.
  std::string object_json(const Object& object) const;
};

// A page of a snapshot: the objects [first, first + count) as a JSON array.
std::string page_json(const DevicesSnapshot& snapshot, std::size_t first, std::size_t count);

// The RegistryView builder of the HTTP API: renders each batch as the repository reads
// it, so only a batch of devices is held at a time, compressing a block of objects at a
// time (the uncompressed answer is never held), and the answer is ready soon after the
// last batch.
RegistryView::Builder devices_snapshot_builder();
// The snapshot of devices at once.
std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices);
// Same, with blocks of objects_per_block objects (tests cross blocks with few devices).
std::shared_ptr<const DevicesSnapshot> build_devices_snapshot(const std::vector<Device>& devices,
                                                              std::size_t objects_per_block);

// data as a gzip stream, or empty when zlib fails.
std::string gzip(std::string_view data);

// A strong ETag of body: "<hash_bytes_64 hex>-<size hex>".
std::string etag_of(std::string_view body);

} // namespace camreg::http::detail
