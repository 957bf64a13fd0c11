#include <boost/json.hpp>

#include "paths_parser.hpp"

#include "camreg/mediamtx/mediamtx.hpp"

namespace camreg::mediamtx {

namespace json = boost::json;

namespace {

// Where a field sits, for messages: page 2, items[5] ("cam1").readers
class Where {
 public:
  Where(std::size_t page, std::size_t index, std::string_view name,
        std::string_view list = "path list")
      : prefix_(std::string(list) + " page " + std::to_string(page) + ", items[" +
                std::to_string(index) + "]") {
    if (name.empty()) return;
    // The name is valid UTF-8 (Boost.JSON checks it): shorten it between characters.
    std::size_t n = std::min<std::size_t>(name.size(), 80);
    while (n < name.size() && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80)
      --n;
    prefix_ += " (\"" + std::string(name.substr(0, n)) + "\")";
  }
  Error error(std::string_view field, std::string_view problem) const {
    return fail(ErrorKind::protocol, "MediaMTX " + prefix_ + (field.empty() ? "" : ".") +
                                         std::string(field) + ": " + std::string(problem));
  }

 private:
  std::string prefix_;
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

Result<std::optional<std::string>> optional_string(const json::object& item, std::string_view field,
                                                   std::string_view fallback, const Where& where) {
  const auto [v, used] = field_or_older(item, field, fallback);
  if (v == nullptr || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return where.error(used, expected("a string or null", *v));
  return std::optional<std::string>{std::string(v->get_string())};
}

Result<std::vector<std::pair<std::string, CodecPropValue>>> codec_props(const json::value& v,
                                                                        const Where& where,
                                                                        const std::string& field) {
  std::vector<std::pair<std::string, CodecPropValue>> props;
  if (v.is_null()) return props;
  if (!v.is_object()) return where.error(field, expected("an object or null", v));
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

Result<std::vector<Track>> tracks(const json::object& item, const Where& where) {
  std::vector<Track> out;
  // tracks2 (v1.17+) carries codec details; tracks (older) only labels.
  if (const json::value* v = item.if_contains("tracks2"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return where.error("tracks2", expected("an array", *v));
    std::size_t i = 0;
    for (const auto& t : v->get_array()) {
      const std::string field = "tracks2[" + std::to_string(i++) + "]";
      if (!t.is_object()) return where.error(field, expected("an object", t));
      const auto& obj = t.get_object();
      const json::value* codec = obj.if_contains("codec");
      if (codec == nullptr) return where.error(field + ".codec", "missing");
      if (!codec->is_string()) return where.error(field + ".codec", expected("a string", *codec));
      Track track{std::string(codec->get_string()), {}};
      if (const json::value* props = obj.if_contains("codecProps")) {
        auto parsed = codec_props(*props, where, field + ".codecProps");
        if (!parsed) return parsed.error();
        track.codec_props = std::move(*parsed);
      }
      out.push_back(std::move(track));
    }
    return out;
  }
  if (const json::value* v = item.if_contains("tracks"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return where.error("tracks", expected("an array", *v));
    std::size_t i = 0;
    for (const auto& t : v->get_array()) {
      if (!t.is_string()) {
        return where.error("tracks[" + std::to_string(i) + "]", expected("a string", t));
      }
      ++i;
      out.push_back(Track{std::string(t.get_string()), {}});
    }
  }
  return out;
}

// {type, id} objects: source and readers.
Result<std::pair<std::string, std::string>> type_and_id(const json::value& v, const Where& where,
                                                        const std::string& field) {
  if (!v.is_object()) return where.error(field, expected("an object", v));
  const auto& obj = v.get_object();
  const json::value* type = obj.if_contains("type");
  if (type == nullptr) return where.error(field + ".type", "missing");
  if (!type->is_string()) return where.error(field + ".type", expected("a string", *type));
  std::string id;
  if (const json::value* i = obj.if_contains("id"); i != nullptr && !i->is_null()) {
    if (!i->is_string()) return where.error(field + ".id", expected("a string", *i));
    id = std::string(i->get_string());
  }
  return std::pair{std::string(type->get_string()), std::move(id)};
}

// The item's name, or why it is not a usable one.
Result<std::string> item_name(const json::object& item, const Where& where) {
  const json::value* name = item.if_contains("name");
  if (name == nullptr) return where.error("name", "missing");
  if (!name->is_string()) return where.error("name", expected("a string", *name));
  if (name->get_string().empty()) return where.error("name", "empty");
  // MediaMTX itself allows only [A-Za-z0-9_-/.]; camreg tolerates more, but a key must
  // fit an index entry and a log line, and carry no control characters.
  if (name->get_string().size() > mediamtx::max_path_name_bytes) {
    return where.error("name",
                       "longer than " + std::to_string(mediamtx::max_path_name_bytes) + " bytes");
  }
  for (const char c : name->get_string()) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return where.error("name", "contains a control character");
  }
  return std::string(name->get_string());
}

// The fields of an item whose name was read (path.name is set).
Result<PathState> parse_fields(const json::object& item, PathState path, const Where& where) {
  if (const json::value* c = item.if_contains("confName"); c != nullptr && !c->is_null()) {
    if (!c->is_string()) return where.error("confName", expected("a string", *c));
    path.conf_name = std::string(c->get_string());
  }
  // available (v1.16+) and ready (older, deprecated) always agree when both are sent.
  const auto [ready, ready_field] = field_or_older(item, "available", "ready");
  if (ready == nullptr) return where.error("available", "missing (and no ready either)");
  if (!ready->is_bool()) return where.error(ready_field, expected("a boolean", *ready));
  path.available = ready->get_bool();
  auto ready_time = optional_string(item, "availableTime", "readyTime", where);
  if (!ready_time) return ready_time.error();
  path.available_time = std::move(*ready_time);
  if (const json::value* online = item.if_contains("online"); online != nullptr) {
    if (!online->is_bool()) return where.error("online", expected("a boolean", *online));
    path.online = online->get_bool();
  }
  if (const json::value* source = item.if_contains("source");
      source != nullptr && !source->is_null()) {
    auto ref = type_and_id(*source, where, "source");
    if (!ref) return ref.error();
    path.source = SourceRef{std::move(ref->first), std::move(ref->second)};
  }
  auto parsed_tracks = tracks(item, where);
  if (!parsed_tracks) return parsed_tracks.error();
  path.tracks = std::move(*parsed_tracks);
  if (const json::value* readers = item.if_contains("readers");
      readers != nullptr && !readers->is_null()) {
    if (!readers->is_array()) return where.error("readers", expected("an array", *readers));
    const auto& list = readers->get_array();
    path.readers.reserve(list.size());
    std::size_t i = 0;
    for (const auto& r : list) {
      auto ref = type_and_id(r, where, "readers[" + std::to_string(i++) + "]");
      if (!ref) return ref.error();
      path.readers.push_back(ReaderRef{std::move(ref->first), std::move(ref->second)});
    }
  }
  auto in = counter(item, "inboundBytes", "bytesReceived", where);
  if (!in) return in.error();
  auto out = counter(item, "outboundBytes", "bytesSent", where);
  if (!out) return out.error();
  auto errors = counter(item, "inboundFramesInError", {}, where);
  if (!errors) return errors.error();
  path.inbound_bytes = *in;
  path.outbound_bytes = *out;
  path.inbound_frames_in_error = *errors;
  return path;
}

// One item, never failing: what cannot be understood is an unreadable entry that keeps
// the name when the name itself was fine.
PathState parse_item(const json::value& v, std::size_t page, std::size_t index) {
  PathState path;
  const Where nameless(page, index, {});
  if (!v.is_object()) {
    path.unreadable = nameless.error("", expected("an object", v)).message;
    return path;
  }
  const auto& item = v.get_object();
  auto name = item_name(item, nameless);
  if (!name) {
    path.unreadable = std::move(name.error().message);
    return path;
  }
  path.name = std::move(*name);
  const Where where(page, index, path.name);
  auto parsed = parse_fields(item, path, where);
  if (parsed) return std::move(*parsed);
  path.unreadable = std::move(parsed.error().message);
  return path;
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

json::value parse_json(std::string_view body, json::error_code& ec, json::storage_ptr memory) {
  json::parse_options options;
  // A path item nests 4 deep and a path configuration 3; anything deeper is not MediaMTX.
  options.max_depth = 16;
  return json::parse(body, ec, std::move(memory), options);
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

// Parses a list page's envelope, then hands each item to read(result, item, index).
template <class Page, class ReadItem>
Result<Page> parse_page(std::string_view body, std::size_t page, std::string_view list,
                        ReadItem&& read) {
  json::error_code ec;
  json::monotonic_resource memory;
  const json::value doc = parse_json(body, ec, &memory);
  if (ec) return page_error(list, page, "not valid JSON (" + ec.message() + ")");
  auto top = envelope(doc, list, page);
  if (!top) return top.error();
  Page result;
  result.page_count = top->page_count;
  result.item_count = top->item_count;
  std::size_t index = 0;
  for (const auto& item : *top->items)
    read(result, item, index++);
  return result;
}

} // namespace

Result<PathPage> parse_paths_page(std::string_view body, std::size_t page) {
  return parse_page<PathPage>(body, page, "path list",
                              [&](PathPage& result, const json::value& item, std::size_t index) {
                                result.items.push_back(parse_item(item, page, index));
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
