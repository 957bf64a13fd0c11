#include <boost/json.hpp>
#include <cstdint>
#include <memory>

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

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
  case json::kind::null: return "null";
  case json::kind::bool_: return "a boolean";
  case json::kind::int64:
  case json::kind::uint64:
  case json::kind::double_: return "a number";
  case json::kind::string: return "a string";
  case json::kind::array: return "an array";
  case json::kind::object: return "an object";
  }
  return "something else";
}

std::string expected(const char* what, const json::value& got) {
  return std::string("expected ") + what + ", got " + kind_name(got);
}

// The newer field, else its deprecated twin (fallback, may be empty), with the name of
// the one found for messages; nullptr when neither is present.
std::pair<const json::value*, std::string_view> field_or_older(const json::object& item,
                                                               std::string_view field,
                                                               std::string_view fallback) {
  if (const json::value* v = item.if_contains(field)) return {v, field};
  if (!fallback.empty()) return {item.if_contains(fallback), fallback};
  return {nullptr, field};
}

// Reads an unsigned counter; absent is 0.
Result<std::uint64_t> counter(const json::object& item, std::string_view field,
                              std::string_view fallback, const Where& where) {
  const auto [v, used] = field_or_older(item, field, fallback);
  if (v == nullptr) return std::uint64_t{0};
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return where.error(used, expected("a non-negative integer", *v));
}

Result<std::vector<std::pair<std::string, CodecPropValue>>> codec_props(const json::value& v,
                                                                        const Where& where,
                                                                        const Field& field) {
  std::vector<std::pair<std::string, CodecPropValue>> props;
  if (v.is_null()) return props;
  if (!v.is_object()) return where.error(field, expected("an object or null", v));
  props.reserve(v.get_object().size());
  for (const auto& [key, value] : v.get_object()) {
    // Scalars only; a nested value from a newer MediaMTX is skipped, not fatal.
    if (value.is_int64())
      props.emplace_back(key, value.get_int64());
    else if (value.is_uint64())
      props.emplace_back(
          key, static_cast<std::int64_t>(std::min<std::uint64_t>(value.get_uint64(), INT64_MAX)));
    else if (value.is_bool())
      props.emplace_back(key, value.get_bool());
    else if (value.is_string())
      props.emplace_back(key, std::string(value.get_string()));
  }
  return props;
}

Result<void> tracks(const json::object& item, const Where& where, std::vector<Track>& out) {
  // tracks2 (v1.17+) carries codec details; tracks (older) only labels.
  if (const json::value* v = item.if_contains("tracks2"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return where.error("tracks2", expected("an array", *v));
    const auto& list = v->get_array();
    out.reserve(list.size());
    std::size_t i = 0;
    for (const auto& t : list) {
      const Field field("tracks2", i++);
      if (!t.is_object()) return where.error(field, expected("an object", t));
      const auto& obj = t.get_object();
      const json::value* codec = obj.if_contains("codec");
      if (codec == nullptr) return where.error(field.member("codec"), "missing");
      if (!codec->is_string())
        return where.error(field.member("codec"), expected("a string", *codec));
      Track& track = out.emplace_back(Track{std::string(codec->get_string()), {}});
      if (const json::value* props = obj.if_contains("codecProps")) {
        auto parsed = codec_props(*props, where, field.member("codecProps"));
        if (!parsed) return std::move(parsed).error();
        track.codec_props = std::move(*parsed);
      }
    }
    return {};
  }
  if (const json::value* v = item.if_contains("tracks"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return where.error("tracks", expected("an array", *v));
    const auto& list = v->get_array();
    out.reserve(list.size());
    std::size_t i = 0;
    for (const auto& t : list) {
      if (!t.is_string()) return where.error(Field("tracks", i), expected("a string", t));
      ++i;
      out.push_back(Track{std::string(t.get_string()), {}});
    }
  }
  return {};
}

// {type, id} objects: source and readers.
Result<void> type_and_id(const json::value& v, const Where& where, const Field& field,
                         std::string& type_out, std::string& id_out) {
  if (!v.is_object()) return where.error(field, expected("an object", v));
  const auto& obj = v.get_object();
  const json::value* type = obj.if_contains("type");
  if (type == nullptr) return where.error(field.member("type"), "missing");
  if (!type->is_string()) return where.error(field.member("type"), expected("a string", *type));
  const json::value* id = obj.if_contains("id");
  if (id != nullptr && !id->is_null() && !id->is_string())
    return where.error(field.member("id"), expected("a string", *id));
  type_out = std::string_view(type->get_string());
  if (id != nullptr && id->is_string()) id_out = std::string_view(id->get_string());
  return {};
}

// The item's name, or why it is not a usable one.
Result<std::string_view> item_name(const json::object& item, const Where& where) {
  const json::value* name = item.if_contains("name");
  if (name == nullptr) return where.error("name", "missing");
  if (!name->is_string()) return where.error("name", expected("a string", *name));
  const std::string_view text = name->get_string();
  if (text.empty()) return where.error("name", "empty");
  // MediaMTX itself allows only [A-Za-z0-9_-/.]; camreg tolerates more, but a key must
  // fit an index entry and a log line, and carry no control characters.
  if (text.size() > mediamtx::max_path_name_bytes) {
    return where.error("name",
                       "longer than " + std::to_string(mediamtx::max_path_name_bytes) + " bytes");
  }
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return where.error("name", "contains a control character");
  }
  return text;
}

// The fields of an item whose name was read (path.name is set), written into path as
// they are read: the caller clears it when this fails.
Result<void> parse_fields(const json::object& item, PathState& path, const Where& where) {
  if (const json::value* c = item.if_contains("confName"); c != nullptr && !c->is_null()) {
    if (!c->is_string()) return where.error("confName", expected("a string", *c));
    path.conf_name = std::string_view(c->get_string());
  }
  // available (v1.16+) and ready (older, deprecated) always agree when both are sent.
  const auto [ready, ready_field] = field_or_older(item, "available", "ready");
  if (ready == nullptr) return where.error("available", "missing (and no ready either)");
  if (!ready->is_bool()) return where.error(ready_field, expected("a boolean", *ready));
  path.available = ready->get_bool();
  const auto [time, time_field] = field_or_older(item, "availableTime", "readyTime");
  if (time != nullptr && !time->is_null()) {
    if (!time->is_string()) return where.error(time_field, expected("a string or null", *time));
    path.available_time.emplace(time->get_string());
  }
  if (const json::value* online = item.if_contains("online"); online != nullptr) {
    if (!online->is_bool()) return where.error("online", expected("a boolean", *online));
    path.online = online->get_bool();
  }
  if (const json::value* source = item.if_contains("source");
      source != nullptr && !source->is_null()) {
    SourceRef& ref = path.source.emplace();
    if (auto r = type_and_id(*source, where, "source", ref.type, ref.id); !r) return r;
  }
  if (auto r = tracks(item, where, path.tracks); !r) return r;
  if (const json::value* readers = item.if_contains("readers");
      readers != nullptr && !readers->is_null()) {
    if (!readers->is_array()) return where.error("readers", expected("an array", *readers));
    const auto& list = readers->get_array();
    path.readers.reserve(list.size());
    std::size_t i = 0;
    for (const auto& r : list) {
      ReaderRef& ref = path.readers.emplace_back();
      if (auto read = type_and_id(r, where, Field("readers", i++), ref.type, ref.id); !read)
        return read;
    }
  }
  auto in = counter(item, "inboundBytes", "bytesReceived", where);
  if (!in) return std::move(in).error();
  auto out = counter(item, "outboundBytes", "bytesSent", where);
  if (!out) return std::move(out).error();
  auto errors = counter(item, "inboundFramesInError", {}, where);
  if (!errors) return std::move(errors).error();
  path.inbound_bytes = *in;
  path.outbound_bytes = *out;
  path.inbound_frames_in_error = *errors;
  return {};
}

// One item into path (default-constructed), never failing: what cannot be understood is
// an unreadable entry that keeps the name when the name itself was fine.
void parse_item(const json::value& v, std::size_t page, std::size_t index, PathState& path) {
  const Where nameless(page, index, {});
  if (!v.is_object()) {
    path.unreadable = nameless.error("", expected("an object", v)).message;
    return;
  }
  const auto& item = v.get_object();
  auto name = item_name(item, nameless);
  if (!name) {
    path.unreadable = std::move(name).error().message;
    return;
  }
  path.name = *name;
  auto parsed = parse_fields(item, path, Where(page, index, path.name));
  if (parsed) return;
  // Nothing but the name is kept from an unreadable item.
  std::string unreadable = parsed.error().message;
  std::string kept = std::move(path.name);
  path = PathState{};
  path.name = std::move(kept);
  path.unreadable = std::move(unreadable);
}

Error page_error(std::string_view list, std::size_t page, const std::string& problem) {
  return fail(ErrorKind::protocol,
              "MediaMTX " + std::string(list) + " page " + std::to_string(page) + ": " + problem);
}

Result<std::size_t> count_field(const json::object& top, std::string_view field, bool required,
                                std::string_view list, std::size_t page) {
  const json::value* v = top.if_contains(field);
  if (v == nullptr) {
    if (required) return page_error(list, page, std::string(field) + ": missing");
    return std::size_t{0};
  }
  if (v->is_uint64()) return static_cast<std::size_t>(v->get_uint64());
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::size_t>(v->get_int64());
  return page_error(list, page, std::string(field) + ": " + expected("a non-negative integer", *v));
}

struct Envelope {
  std::size_t item_count = 0;
  std::size_t page_count = 0;
  const json::array* items = nullptr; // inside the parsed document
};

// {"itemCount", "pageCount", "items": [...]}, the shape of every /list endpoint. Only the
// shape is checked here; the items are the caller's.
Result<Envelope> envelope(const json::value& doc, std::string_view list, std::size_t page) {
  if (!doc.is_object()) return page_error(list, page, expected("an object", doc));
  const auto& top = doc.get_object();
  const json::value* items = top.if_contains("items");
  if (items == nullptr) return page_error(list, page, "items: missing");
  if (items->is_object()) {
    return page_error(list, page,
                      "items: an object (the map shape of MediaMTX before v0.23), which "
                      "camreg does not read; upgrade MediaMTX to v1.2 or later");
  }
  if (!items->is_array()) return page_error(list, page, "items: " + expected("an array", *items));
  auto page_count = count_field(top, "pageCount", true, list, page);
  if (!page_count) return page_count.error();
  auto item_count = count_field(top, "itemCount", false, list, page);
  if (!item_count) return item_count.error();
  return Envelope{*item_count, *page_count, &items->get_array()};
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
    json::parser parser{json::storage_ptr(), [] {
                          json::parse_options options;
                          // A path item nests 4 deep and a path configuration 3; anything
                          // deeper is not MediaMTX.
                          options.max_depth = 16;
                          return options;
                        }()};
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
  result.page_count = top->page_count;
  result.item_count = top->item_count;
  result.items.reserve(top->items->size());
  std::size_t index = 0;
  for (const auto& item : *top->items)
    read(result, item, index++);
  return result;
}

} // namespace

Result<PathPage> parse_paths_page(std::string_view body, std::size_t page) {
  return parse_page<PathPage>(body, page, "path list",
                              [&](PathPage& result, const json::value& item, std::size_t index) {
                                parse_item(item, page, index, result.items.emplace_back());
                              });
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
