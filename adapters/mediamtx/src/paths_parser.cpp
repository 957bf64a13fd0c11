#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "paths_parser.hpp"

#include "camreg/mediamtx/mediamtx.hpp"

namespace camreg::mediamtx {

namespace json = boost::json;

namespace {

// A field's name for messages, spelt out only when a message is written: source,
// readers[2].type, tracks2[0].codecProps.
class Field {
 public:
  Field(const char* name) : name_(name) {}
  Field(std::string_view name) : name_(name) {}
  Field(std::string_view name, std::size_t index, std::string_view member = {})
      : name_(name), index_(index), member_(member) {}
  Field member(std::string_view member) const { return Field(name_, index_, member); }
  bool empty() const { return name_.empty(); }
  std::string str() const {
    std::string out(name_);
    if (index_ != none) out += "[" + std::to_string(index_) + "]";
    if (!member_.empty()) out += "." + std::string(member_);
    return out;
  }

 private:
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::string_view name_;
  std::size_t index_ = none;
  std::string_view member_;
};

// Where a field sits, for messages: page 2, items[5] ("cam1").readers. Holds views (the
// name must outlive it) and writes the message only on error: most items have none.
class Where {
 public:
  Where(std::size_t page, std::size_t index, std::string_view name,
        std::string_view list = "path list")
      : page_(page), index_(index), name_(name), list_(list) {}
  Error error(const Field& field, std::string_view problem) const {
    std::string message = "MediaMTX " + std::string(list_) + " page " + std::to_string(page_) +
                          ", items[" + std::to_string(index_) + "]";
    if (!name_.empty()) {
      // The name is valid UTF-8 (Boost.JSON checks it): shorten it between characters.
      std::size_t n = std::min<std::size_t>(name_.size(), 80);
      while (n < name_.size() && (static_cast<unsigned char>(name_[n]) & 0xC0) == 0x80)
        --n;
      message += " (\"" + std::string(name_.substr(0, n)) + "\")";
    }
    if (!field.empty()) message += "." + field.str();
    return fail(ErrorKind::protocol, message + ": " + std::string(problem));
  }

 private:
  std::size_t page_;
  std::size_t index_;
  std::string_view name_;
  std::string_view list_;
};

json::parse_options json_options() {
  json::parse_options options;
  // A path item nests 4 deep and a path configuration 3; anything deeper is not MediaMTX.
  options.max_depth = 16;
  return options;
}

Error page_error(std::string_view list, std::size_t page, const std::string& problem) {
  return fail(ErrorKind::protocol,
              "MediaMTX " + std::string(list) + " page " + std::to_string(page) + ": " + problem);
}

// What kind of JSON value a field held, for the checks made once its item is complete.
enum class Kind : unsigned char {
  absent,
  null,
  boolean,
  int64,
  uint64,
  number,
  string,
  array,
  object
};

const char* kind_name(Kind kind) {
  switch (kind) {
  case Kind::absent:
  case Kind::null: return "null";
  case Kind::boolean: return "a boolean";
  case Kind::int64:
  case Kind::uint64:
  case Kind::number: return "a number";
  case Kind::string: return "a string";
  case Kind::array: return "an array";
  case Kind::object: return "an object";
  }
  return "something else";
}

std::string expected(const char* what, Kind got) {
  return std::string("expected ") + what + ", got " + kind_name(got);
}

Kind kind_of(const json::value& v) {
  switch (v.kind()) {
  case json::kind::null: return Kind::null;
  case json::kind::bool_: return Kind::boolean;
  case json::kind::int64: return Kind::int64;
  case json::kind::uint64: return Kind::uint64;
  case json::kind::double_: return Kind::number;
  case json::kind::string: return Kind::string;
  case json::kind::array: return Kind::array;
  case json::kind::object: return Kind::object;
  }
  return Kind::null;
}

std::string expected(const char* what, const json::value& got) {
  return expected(what, kind_of(got));
}

// One scalar field as read: its kind and, for the kinds camreg reads, its value.
struct Slot {
  Kind kind = Kind::absent;
  bool boolean = false;
  std::int64_t int64 = 0;
  std::uint64_t uint64 = 0;
  std::string text;

  bool present() const { return kind != Kind::absent; }
  bool given() const { return kind != Kind::absent && kind != Kind::null; }
  void clear() {
    kind = Kind::absent;
    text.clear();
  }
};

// A page count (pageCount, itemCount): a non-negative integer; absent is 0 unless required.
Result<std::size_t> count(const Slot& v, std::string_view field, bool required,
                          std::string_view list, std::size_t page) {
  if (!v.present()) {
    if (required) return page_error(list, page, std::string(field) + ": missing");
    return std::size_t{0};
  }
  if (v.kind == Kind::uint64) return static_cast<std::size_t>(v.uint64);
  if (v.kind == Kind::int64 && v.int64 >= 0) return static_cast<std::size_t>(v.int64);
  return page_error(list, page,
                    std::string(field) + ": " + expected("a non-negative integer", v.kind));
}

struct Counts {
  std::size_t item_count = 0;
  std::size_t page_count = 0;
};

// {"itemCount", "pageCount", "items": [...]}, the shape of every /list endpoint, from what
// the page held: the kinds of the document and of items, and the counts. The items are
// the caller's.
Result<Counts> check_envelope(Kind doc, Kind items, const Slot& page_count, const Slot& item_count,
                              std::string_view list, std::size_t page) {
  if (doc != Kind::object) return page_error(list, page, expected("an object", doc));
  if (items == Kind::absent) return page_error(list, page, "items: missing");
  if (items == Kind::object) {
    return page_error(list, page,
                      "items: an object (the map shape of MediaMTX before v0.23), which "
                      "camreg does not read; upgrade MediaMTX to v1.2 or later");
  }
  if (items != Kind::array) return page_error(list, page, "items: " + expected("an array", items));
  auto pages = count(page_count, "pageCount", true, list, page);
  if (!pages) return std::move(pages).error();
  auto total = count(item_count, "itemCount", false, list, page);
  if (!total) return std::move(total).error();
  return Counts{*total, *pages};
}

// {type, id}: source and each reader.
struct RefFields {
  Kind kind = Kind::absent;
  Slot type, id;
  void clear() {
    kind = Kind::absent;
    type.clear();
    id.clear();
  }
};

// Elements of a list read item after item: clear() keeps them, and their capacity, for
// the next item; trim() lets them go after a page with far more than MediaMTX sends.
template <class T>
class Reused {
 public:
  T& next() {
    if (used_ == items_.size()) items_.emplace_back();
    T& item = items_[used_++];
    item.clear();
    return item;
  }
  void clear() { used_ = 0; }
  void trim(std::size_t max) {
    if (items_.size() > max) items_ = std::vector<T>();
    if constexpr (requires(T & t) { t.trim(max); }) {
      for (T& item : items_)
        item.trim(max);
    }
    used_ = 0;
  }
  std::size_t size() const { return used_; }
  T& back() { return items_[used_ - 1]; }
  T* begin() { return items_.data(); }
  T* end() { return items_.data() + used_; }

 private:
  std::vector<T> items_;
  std::size_t used_ = 0;
};

// One codec property; kept = false for a value camreg skips (a nested one, a fraction,
// null), which still takes the place of an earlier twin as in a parsed document.
struct Prop {
  std::string key;
  bool kept = false;
  CodecPropValue value;
  void clear() {
    key.clear();
    kept = false;
  }
};

// An element of tracks2 ({codec, codecProps}), or of tracks (the element is codec).
struct TrackFields {
  Kind kind = Kind::absent;
  Slot codec;
  Kind props_kind = Kind::absent;
  Reused<Prop> props;
  void clear() {
    kind = props_kind = Kind::absent;
    codec.clear();
    props.clear();
  }
  void trim(std::size_t max) { props.trim(max); }
};

// Every field of one item camreg reads, as found, checked when the item ends.
struct ItemFields {
  Slot name, conf_name, available, ready, available_time, ready_time, online;
  RefFields source;
  Kind tracks2_kind = Kind::absent, tracks_kind = Kind::absent, readers_kind = Kind::absent;
  Reused<TrackFields> tracks2, tracks;
  Reused<RefFields> readers;
  Slot inbound_bytes, bytes_received, outbound_bytes, bytes_sent, frames_in_error;

  void clear() {
    for (Slot* s :
         {&name, &conf_name, &available, &ready, &available_time, &ready_time, &online,
          &inbound_bytes, &bytes_received, &outbound_bytes, &bytes_sent, &frames_in_error})
      s->clear();
    source.clear();
    tracks2_kind = tracks_kind = readers_kind = Kind::absent;
    tracks2.clear();
    tracks.clear();
    readers.clear();
  }
};

// The newer field when present, else its deprecated twin, with the name of the one used.
std::pair<Slot*, std::string_view> field_or_older(Slot& newer, std::string_view newer_name,
                                                  Slot& older, std::string_view older_name) {
  if (newer.present()) return {&newer, newer_name};
  return {&older, older_name};
}

// An unsigned counter; absent is 0.
Result<std::uint64_t> counter(const Slot& v, std::string_view field, const Where& where) {
  if (!v.present()) return std::uint64_t{0};
  if (v.kind == Kind::uint64) return v.uint64;
  if (v.kind == Kind::int64 && v.int64 >= 0) return static_cast<std::uint64_t>(v.int64);
  return where.error(field, expected("a non-negative integer", v.kind));
}

Result<void> type_and_id(RefFields& ref, const Where& where, const Field& field,
                         std::string& type_out, std::string& id_out) {
  if (ref.kind != Kind::object) return where.error(field, expected("an object", ref.kind));
  if (!ref.type.present()) return where.error(field.member("type"), "missing");
  if (ref.type.kind != Kind::string)
    return where.error(field.member("type"), expected("a string", ref.type.kind));
  if (ref.id.given() && ref.id.kind != Kind::string)
    return where.error(field.member("id"), expected("a string", ref.id.kind));
  type_out = std::move(ref.type.text);
  if (ref.id.given()) id_out = std::move(ref.id.text);
  return {};
}

Result<void> tracks(ItemFields& item, const Where& where, std::vector<Track>& out) {
  // tracks2 (v1.17+) carries codec details; tracks (older) only labels.
  if (item.tracks2_kind != Kind::absent && item.tracks2_kind != Kind::null) {
    if (item.tracks2_kind != Kind::array)
      return where.error("tracks2", expected("an array", item.tracks2_kind));
    out.reserve(item.tracks2.size());
    std::size_t i = 0;
    for (auto& t : item.tracks2) {
      const Field field("tracks2", i++);
      if (t.kind != Kind::object) return where.error(field, expected("an object", t.kind));
      if (!t.codec.present()) return where.error(field.member("codec"), "missing");
      if (t.codec.kind != Kind::string)
        return where.error(field.member("codec"), expected("a string", t.codec.kind));
      Track& track = out.emplace_back(Track{std::move(t.codec.text), {}});
      if (t.props_kind == Kind::absent || t.props_kind == Kind::null) continue;
      if (t.props_kind != Kind::object) {
        return where.error(field.member("codecProps"), expected("an object or null", t.props_kind));
      }
      // Scalars only; a nested value from a newer MediaMTX is skipped, not fatal.
      for (auto& prop : t.props) {
        if (prop.kept) track.codec_props.emplace_back(std::move(prop.key), std::move(prop.value));
      }
    }
    return {};
  }
  if (item.tracks_kind != Kind::absent && item.tracks_kind != Kind::null) {
    if (item.tracks_kind != Kind::array)
      return where.error("tracks", expected("an array", item.tracks_kind));
    out.reserve(item.tracks.size());
    std::size_t i = 0;
    for (auto& t : item.tracks) {
      if (t.kind != Kind::string)
        return where.error(Field("tracks", i), expected("a string", t.kind));
      ++i;
      out.push_back(Track{std::move(t.codec.text), {}});
    }
  }
  return {};
}

// The item's name, or why it is not a usable one.
Result<void> check_name(const Slot& name, const Where& where) {
  if (!name.present()) return where.error("name", "missing");
  if (name.kind != Kind::string) return where.error("name", expected("a string", name.kind));
  if (name.text.empty()) return where.error("name", "empty");
  // MediaMTX itself allows only [A-Za-z0-9_-/.]; camreg tolerates more, but a key must
  // fit an index entry and a log line, and carry no control characters.
  if (name.text.size() > mediamtx::max_path_name_bytes) {
    return where.error("name",
                       "longer than " + std::to_string(mediamtx::max_path_name_bytes) + " bytes");
  }
  for (const char c : name.text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return where.error("name", "contains a control character");
  }
  return {};
}

// The fields of an item whose name was read (path.name is set), written into path as
// they are checked, in a fixed order whatever the body's: the caller clears path when
// this fails.
Result<void> check_fields(ItemFields& item, PathState& path, const Where& where) {
  if (item.conf_name.given()) {
    if (item.conf_name.kind != Kind::string)
      return where.error("confName", expected("a string", item.conf_name.kind));
    path.conf_name = std::move(item.conf_name.text);
  }
  // available (v1.16+) and ready (older, deprecated) always agree when both are sent.
  const auto [ready, ready_field] =
      field_or_older(item.available, "available", item.ready, "ready");
  if (!ready->present()) return where.error("available", "missing (and no ready either)");
  if (ready->kind != Kind::boolean)
    return where.error(ready_field, expected("a boolean", ready->kind));
  path.available = ready->boolean;
  const auto [time, time_field] =
      field_or_older(item.available_time, "availableTime", item.ready_time, "readyTime");
  if (time->given()) {
    if (time->kind != Kind::string)
      return where.error(time_field, expected("a string or null", time->kind));
    path.available_time = std::move(time->text);
  }
  if (item.online.present()) {
    if (item.online.kind != Kind::boolean)
      return where.error("online", expected("a boolean", item.online.kind));
    path.online = item.online.boolean;
  }
  if (item.source.kind != Kind::absent && item.source.kind != Kind::null) {
    SourceRef& ref = path.source.emplace();
    if (auto r = type_and_id(item.source, where, "source", ref.type, ref.id); !r) return r;
  }
  if (auto r = tracks(item, where, path.tracks); !r) return r;
  if (item.readers_kind != Kind::absent && item.readers_kind != Kind::null) {
    if (item.readers_kind != Kind::array)
      return where.error("readers", expected("an array", item.readers_kind));
    path.readers.reserve(item.readers.size());
    std::size_t i = 0;
    for (auto& r : item.readers) {
      ReaderRef& ref = path.readers.emplace_back();
      if (auto read = type_and_id(r, where, Field("readers", i++), ref.type, ref.id); !read)
        return read;
    }
  }
  const auto [in, in_field] =
      field_or_older(item.inbound_bytes, "inboundBytes", item.bytes_received, "bytesReceived");
  auto inbound = counter(*in, in_field, where);
  if (!inbound) return std::move(inbound).error();
  const auto [out, out_field] =
      field_or_older(item.outbound_bytes, "outboundBytes", item.bytes_sent, "bytesSent");
  auto outbound = counter(*out, out_field, where);
  if (!outbound) return std::move(outbound).error();
  auto errors = counter(item.frames_in_error, "inboundFramesInError", where);
  if (!errors) return std::move(errors).error();
  path.inbound_bytes = *inbound;
  path.outbound_bytes = *outbound;
  path.inbound_frames_in_error = *errors;
  return {};
}

// A Boost.JSON SAX handler reading a page of GET /v3/paths/list straight into PathStates:
// no document is built, and only the fields camreg reads are kept. Each item's fields
// are collected as they come (a key given twice: the last wins, as in a parsed
// document) and checked when the item ends, in the same order and with the same
// messages as ever; the envelope is checked when the document ends.
class PathPageHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  void start(std::size_t page, PathPage* out) {
    page_ = page;
    out_ = out;
    frames_.clear();
    doc_kind_ = items_kind_ = Kind::absent;
    page_count_.clear();
    item_count_.clear();
    in_key_ = in_string_ = false;
    key_.clear();
    // A page of MediaMTX's holds a few tracks and readers a path; keep no more.
    item_.tracks2.trim(64);
    item_.tracks.trim(64);
    item_.readers.trim(1024);
    if (prop_index_.bucket_count() > 1024) prop_index_ = {};
  }

  // The envelope's verdict, once the document was read whole.
  Result<void> finish() {
    auto counts =
        check_envelope(doc_kind_, items_kind_, page_count_, item_count_, "path list", page_);
    if (!counts) return std::move(counts).error();
    out_->page_count = counts->page_count;
    out_->item_count = counts->item_count;
    return {};
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return open(Kind::array); }
  bool on_array_end(std::size_t, json::error_code&) { return close(); }
  bool on_object_begin(json::error_code&) { return open(Kind::object); }
  bool on_object_end(std::size_t, json::error_code&) { return close(); }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_string_) {
      string_ = scalar(Kind::string);
      in_string_ = true;
    }
    if (string_ != nullptr) string_->text.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
    on_string_part(s, n, ec);
    in_string_ = false;
    done();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (!in_key_) key_.clear();
    in_key_ = true;
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code& ec) {
    on_key_part(s, n, ec);
    in_key_ = false;
    if (!frames_.empty()) frames_.back().key = key_of(frames_.back().role, key_);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    if (Slot* slot = scalar(Kind::int64)) slot->int64 = i;
    done();
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    if (Slot* slot = scalar(Kind::uint64)) slot->uint64 = u;
    done();
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) {
    scalar(Kind::number);
    done();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    if (Slot* slot = scalar(Kind::boolean)) slot->boolean = b;
    done();
    return true;
  }
  bool on_null(json::error_code&) {
    scalar(Kind::null);
    done();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // What a container is: it decides what its keys and elements mean.
  enum class Role : unsigned char {
    envelope,
    items,
    item,
    source,
    readers,
    reader,
    tracks2,
    track2,
    codec_props,
    tracks,
    skip
  };
  // The keys camreg reads, of every role; other = any other key.
  enum class Key : unsigned char {
    other,
    items,
    page_count,
    item_count,
    name,
    conf_name,
    available,
    ready,
    available_time,
    ready_time,
    online,
    source,
    tracks2,
    tracks,
    readers,
    inbound_bytes,
    bytes_received,
    outbound_bytes,
    bytes_sent,
    frames_in_error,
    type,
    id,
    codec,
    codec_props
  };
  struct Frame {
    Role role;
    Key key = Key::other; // the key whose value comes next (objects)
  };

  static Key key_of(Role role, std::string_view key) {
    struct Name {
      std::string_view text;
      Key key;
    };
    static constexpr Name envelope[] = {
        {"items", Key::items}, {"pageCount", Key::page_count}, {"itemCount", Key::item_count}};
    static constexpr Name item[] = {{"name", Key::name},
                                    {"confName", Key::conf_name},
                                    {"available", Key::available},
                                    {"ready", Key::ready},
                                    {"availableTime", Key::available_time},
                                    {"readyTime", Key::ready_time},
                                    {"online", Key::online},
                                    {"source", Key::source},
                                    {"tracks2", Key::tracks2},
                                    {"tracks", Key::tracks},
                                    {"readers", Key::readers},
                                    {"inboundBytes", Key::inbound_bytes},
                                    {"bytesReceived", Key::bytes_received},
                                    {"outboundBytes", Key::outbound_bytes},
                                    {"bytesSent", Key::bytes_sent},
                                    {"inboundFramesInError", Key::frames_in_error}};
    static constexpr Name ref[] = {{"type", Key::type}, {"id", Key::id}};
    static constexpr Name track[] = {{"codec", Key::codec}, {"codecProps", Key::codec_props}};
    const auto find = [&](const auto& names) {
      for (const Name& n : names) {
        if (n.text == key) return n.key;
      }
      return Key::other;
    };
    switch (role) {
    case Role::envelope: return find(envelope);
    case Role::item: return find(item);
    case Role::source:
    case Role::reader: return find(ref);
    case Role::track2: return find(track);
    default: return Key::other;
    }
  }

  // A value starts, of kind, where the innermost container says: records its kind where
  // camreg reads it and returns the slot its scalar value goes to (nullptr: not read)
  // and, for a container, the role it plays.
  Slot* begin_value(Kind kind, Role& role) {
    role = Role::skip;
    if (frames_.empty()) {
      doc_kind_ = kind;
      if (kind == Kind::object) role = Role::envelope;
      return nullptr;
    }
    Frame& frame = frames_.back();
    switch (frame.role) {
    case Role::envelope:
      switch (frame.key) {
      case Key::items:
        items_kind_ = kind;
        out_->items.clear();
        if (kind == Kind::array) role = Role::items;
        return nullptr;
      case Key::page_count: return reset(page_count_);
      case Key::item_count: return reset(item_count_);
      default: return nullptr;
      }
    case Role::items:
      if (kind == Kind::object) {
        item_.clear();
        role = Role::item;
      } else {
        const Where nameless(page_, out_->items.size(), {});
        out_->items.emplace_back().unreadable =
            nameless.error("", expected("an object", kind)).message;
      }
      return nullptr;
    case Role::item: return item_value(frame.key, kind, role);
    case Role::source: return ref_value(item_.source, frame.key);
    case Role::readers:
      item_.readers.next().kind = kind;
      if (kind == Kind::object) role = Role::reader;
      return nullptr;
    case Role::reader: return ref_value(item_.readers.back(), frame.key);
    case Role::tracks2:
      item_.tracks2.next().kind = kind;
      if (kind == Kind::object) role = Role::track2;
      return nullptr;
    case Role::track2: {
      TrackFields& track = item_.tracks2.back();
      if (frame.key == Key::codec) return reset(track.codec);
      if (frame.key == Key::codec_props) {
        track.props_kind = kind;
        track.props.clear();
        prop_index_.clear();
        if (kind == Kind::object) role = Role::codec_props;
      }
      return nullptr;
    }
    case Role::codec_props: return prop_value(item_.tracks2.back().props);
    case Role::tracks: {
      TrackFields& track = item_.tracks.next();
      track.kind = kind;
      return &track.codec;
    }
    case Role::skip: return nullptr;
    }
    return nullptr;
  }

  static Slot* reset(Slot& slot) {
    slot.clear();
    return &slot;
  }

  Slot* item_value(Key key, Kind kind, Role& role) {
    switch (key) {
    case Key::name: return reset(item_.name);
    case Key::conf_name: return reset(item_.conf_name);
    case Key::available: return reset(item_.available);
    case Key::ready: return reset(item_.ready);
    case Key::available_time: return reset(item_.available_time);
    case Key::ready_time: return reset(item_.ready_time);
    case Key::online: return reset(item_.online);
    case Key::inbound_bytes: return reset(item_.inbound_bytes);
    case Key::bytes_received: return reset(item_.bytes_received);
    case Key::outbound_bytes: return reset(item_.outbound_bytes);
    case Key::bytes_sent: return reset(item_.bytes_sent);
    case Key::frames_in_error: return reset(item_.frames_in_error);
    case Key::source:
      item_.source.clear();
      item_.source.kind = kind;
      if (kind == Kind::object) role = Role::source;
      return nullptr;
    case Key::tracks2:
      item_.tracks2_kind = kind;
      item_.tracks2.clear();
      if (kind == Kind::array) role = Role::tracks2;
      return nullptr;
    case Key::tracks:
      item_.tracks_kind = kind;
      item_.tracks.clear();
      if (kind == Kind::array) role = Role::tracks;
      return nullptr;
    case Key::readers:
      item_.readers_kind = kind;
      item_.readers.clear();
      if (kind == Kind::array) role = Role::readers;
      return nullptr;
    default: return nullptr;
    }
  }

  static Slot* ref_value(RefFields& ref, Key key) {
    if (key == Key::type) return reset(ref.type);
    if (key == Key::id) return reset(ref.id);
    return nullptr;
  }

  // A codec property takes the place of an earlier one of the same key, as in a parsed
  // document; a scalar's value is set by done(), from prop_slot_. The earlier ones are
  // searched in turn while they are few (MediaMTX sends a handful), through an index
  // past that: a reply with a million properties costs no more per property than one
  // with five.
  Slot* prop_value(Reused<Prop>& props) {
    constexpr std::size_t indexed_from = 16;
    prop_ = nullptr;
    if (props.size() < indexed_from) {
      for (auto& p : props) {
        if (p.key == key_) prop_ = &p;
      }
    } else {
      if (prop_index_.empty()) {
        for (std::size_t i = 0; i < props.size(); ++i)
          prop_index_.emplace(props.begin()[i].key, i);
      }
      if (const auto found = prop_index_.find(key_); found != prop_index_.end())
        prop_ = props.begin() + found->second;
    }
    if (prop_ == nullptr) {
      prop_ = &props.next();
      prop_->key = key_;
      if (!prop_index_.empty()) prop_index_.emplace(key_, props.size() - 1);
    }
    prop_->kept = false;
    return reset(prop_slot_);
  }

  // A scalar of kind starts: returns the slot it is read into (nullptr: not read).
  Slot* scalar(Kind kind) {
    Role role;
    value_ = begin_value(kind, role);
    if (value_ != nullptr) value_->kind = kind;
    return value_;
  }

  // A scalar ended: a codec property keeps it when camreg reads its kind.
  void done() {
    if (value_ != &prop_slot_ || prop_ == nullptr) return;
    switch (prop_slot_.kind) {
    case Kind::int64: prop_->value = prop_slot_.int64; break;
    case Kind::uint64:
      prop_->value =
          static_cast<std::int64_t>(std::min<std::uint64_t>(prop_slot_.uint64, INT64_MAX));
      break;
    case Kind::boolean: prop_->value = prop_slot_.boolean; break;
    case Kind::string: prop_->value = std::move(prop_slot_.text); break;
    default: return;
    }
    prop_->kept = true;
  }

  bool open(Kind kind) {
    Role role;
    if (Slot* slot = begin_value(kind, role)) slot->kind = kind;
    frames_.push_back(Frame{role});
    return true;
  }

  bool close() {
    const Role role = frames_.back().role;
    frames_.pop_back();
    if (role == Role::item) finish_item();
    return true;
  }

  void finish_item() {
    const std::size_t index = out_->items.size();
    PathState& path = out_->items.emplace_back();
    const Where nameless(page_, index, {});
    if (auto named = check_name(item_.name, nameless); !named) {
      path.unreadable = named.error().message;
      return;
    }
    path.name = std::move(item_.name.text);
    auto checked = check_fields(item_, path, Where(page_, index, path.name));
    if (checked) return;
    // Nothing but the name is kept from an unreadable item.
    std::string unreadable = checked.error().message;
    std::string kept = std::move(path.name);
    path = PathState{};
    path.name = std::move(kept);
    path.unreadable = std::move(unreadable);
  }

  std::size_t page_ = 0;
  PathPage* out_ = nullptr;
  std::vector<Frame> frames_;
  Kind doc_kind_ = Kind::absent, items_kind_ = Kind::absent;
  Slot page_count_, item_count_;
  ItemFields item_; // the item being read, reused from item to item
  std::string key_;
  bool in_key_ = false, in_string_ = false;
  Slot* string_ = nullptr;                                  // where the string being read goes
  Slot* value_ = nullptr;                                   // the slot of the scalar being read
  Prop* prop_ = nullptr;                                    // the codec property being read
  std::unordered_map<std::string, std::size_t> prop_index_; // of a track with many
  Slot prop_slot_;
};

// A count of a parsed page as a Slot (absent when the page has none).
Slot count_field(const json::object& top, std::string_view field) {
  Slot slot;
  if (const json::value* v = top.if_contains(field)) {
    slot.kind = kind_of(*v);
    if (v->is_int64()) slot.int64 = v->get_int64();
    if (v->is_uint64()) slot.uint64 = v->get_uint64();
  }
  return slot;
}

struct Envelope {
  Counts counts;
  const json::array* items = nullptr; // inside the parsed document
};

// The envelope of a parsed page (see check_envelope).
Result<Envelope> envelope(const json::value& doc, std::string_view list, std::size_t page) {
  const json::object* top = doc.if_object();
  const json::value* items = top == nullptr ? nullptr : top->if_contains("items");
  auto counts =
      check_envelope(kind_of(doc), items == nullptr ? Kind::absent : kind_of(*items),
                     top == nullptr ? Slot{} : count_field(*top, "pageCount"),
                     top == nullptr ? Slot{} : count_field(*top, "itemCount"), list, page);
  if (!counts) return std::move(counts).error();
  return Envelope{*counts, &items->get_array()};
}

// One configuration item, or why it cannot be used. Only the three fields camreg needs
// are looked at; the others (source URLs with credentials among them) are never copied.
Result<std::pair<std::string, PathConfig>> parse_config_item(const json::value& v,
                                                             const Where& where) {
  if (!v.is_object()) return where.error("", expected("an object", v));
  const auto& item = v.get_object();
  const json::value* name = item.if_contains("name");
  if (name == nullptr) return where.error("name", "missing");
  if (!name->is_string()) return where.error("name", expected("a string", *name));
  PathConfig config;
  const auto flag = [&](std::string_view field, bool& out) -> Result<bool> {
    const json::value* f = item.if_contains(field);
    if (f == nullptr || f->is_null()) return false; // older MediaMTX: not a feature yet
    if (!f->is_bool()) return where.error(field, expected("a boolean", *f));
    out = f->get_bool();
    return true;
  };
  if (auto r = flag("sourceOnDemand", config.source_on_demand); !r) return r.error();
  if (auto r = flag("alwaysAvailable", config.always_available); !r) return r.error();
  if (const json::value* run = item.if_contains("runOnDemand"); run != nullptr && !run->is_null()) {
    if (!run->is_string()) return where.error("runOnDemand", expected("a string", *run));
    config.run_on_demand = !run->get_string().empty();
  }
  return std::pair{std::string(name->get_string()), config};
}

} // namespace

namespace {

// The memory of one page's document, kept for the next page parsed on the same thread: a
// page's document is megabytes in thousands of small pieces, and taking them from blocks
// already faulted in is most of what reading a page costs beyond the parse itself.
// Deallocation is a no-op; rewind() makes every block free again, and lets them go once
// they grew past keep_bytes (a page far larger than MediaMTX's own).
class PageArena final : public json::memory_resource {
 public:
  void rewind() {
    if (capacity_ > keep_bytes) {
      blocks_.clear();
      capacity_ = 0;
    }
    current_ = 0;
    used_ = 0;
  }

 private:
  static constexpr std::size_t first_block = 1u << 20;
  static constexpr std::size_t keep_bytes = 32u << 20;
  struct Block {
    std::unique_ptr<unsigned char[]> data;
    std::size_t size;
  };

  void* do_allocate(std::size_t n, std::size_t align) override {
    for (; current_ < blocks_.size(); ++current_, used_ = 0) {
      Block& block = blocks_[current_];
      const auto base = reinterpret_cast<std::uintptr_t>(block.data.get());
      const std::size_t at = ((base + used_ + align - 1) & ~(std::uintptr_t{align} - 1)) - base;
      if (at <= block.size && n <= block.size - at) {
        used_ = at + n;
        return block.data.get() + at;
      }
    }
    const std::size_t size =
        std::max(n + align, blocks_.empty() ? first_block : 2 * blocks_.back().size);
    blocks_.push_back(Block{std::make_unique_for_overwrite<unsigned char[]>(size), size});
    capacity_ += size;
    return do_allocate(n, align);
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const json::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::vector<Block> blocks_;
  std::size_t capacity_ = 0;
  std::size_t current_ = 0; // the block allocations come from
  std::size_t used_ = 0;    // bytes of it taken
};

} // namespace
} // namespace camreg::mediamtx

// Nothing allocated from a PageArena is freed one by one: documents parsed into it are
// dropped without walking them.
template <>
struct boost::json::is_deallocate_trivial<camreg::mediamtx::PageArena> : std::true_type {};

namespace camreg::mediamtx {
namespace {

// Parses a list page's envelope, then hands each item to read(result, item, index). The
// parser (its stack) and the document's memory are the thread's, reused page after page.
template <class Page, class ReadItem>
Result<Page> parse_page(std::string_view body, std::size_t page, std::string_view list,
                        ReadItem&& read) {
  struct Workspace {
    PageArena memory;
    json::parser parser{json::storage_ptr(), json_options()};
  };
  thread_local Workspace workspace;
  workspace.memory.rewind();
  workspace.parser.reset(json::storage_ptr(&workspace.memory));
  json::error_code ec;
  workspace.parser.write(body, ec);
  if (ec) {
    workspace.parser.reset();
    return page_error(list, page, "not valid JSON (" + ec.message() + ")");
  }
  const json::value doc = workspace.parser.release();
  auto top = envelope(doc, list, page);
  if (!top) return top.error();
  Page result;
  result.page_count = top->counts.page_count;
  result.item_count = top->counts.item_count;
  result.items.reserve(top->items->size());
  std::size_t index = 0;
  for (const auto& item : *top->items)
    read(result, item, index++);
  return result;
}

} // namespace

Result<PathPage> parse_paths_page(std::string_view body, std::size_t page) {
  // The parser (its stack) and its handler's buffers are the thread's, reused page
  // after page.
  thread_local json::basic_parser<PathPageHandler> parser(json_options());
  PathPage result;
  parser.reset();
  parser.handler().start(page, &result);
  json::error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  if (ec) return page_error("path list", page, "not valid JSON (" + ec.message() + ")");
  if (auto envelope = parser.handler().finish(); !envelope) return envelope.error();
  return result;
}

Result<ConfigPage> parse_config_page(std::string_view body, std::size_t page) {
  constexpr std::string_view list = "path config list";
  return parse_page<ConfigPage>(
      body, page, list, [&](ConfigPage& result, const json::value& item, std::size_t index) {
        auto config = parse_config_item(item, Where(page, index, {}, list));
        if (config)
          result.items.push_back(std::move(*config));
        else
          result.unreadable.push_back(std::move(config.error().message));
      });
}

} // namespace camreg::mediamtx
