#pragma once

// Internal to the MediaMTX adapter; the unit tests and the fuzzer reach it through a
// private include directory.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "camreg/path_source.hpp"
#include "camreg/result.hpp"

namespace camreg::mediamtx {

// One page of GET /v3/paths/list.
struct PathPage {
  std::size_t item_count = 0;
  std::size_t page_count = 0;
  std::vector<PathState> items; // in the page's order, unreadable ones included
};

// Parses one page body, tolerant of every v3 shape (v1.2 to v1.20: ready/available,
// tracks/tracks2, bytesReceived/inboundBytes, null source) and of unknown fields.
// The page fails (protocol, naming the page) only when its envelope does: invalid JSON,
// not an object, items missing or not an array, pageCount missing, a count not a
// non-negative integer. An item that cannot be understood (a missing or mistyped field,
// a name over max_path_name_bytes or with control characters) becomes a PathState whose
// unreadable names the page, the item and the field, and whose name is set only when
// the name itself was valid. page is used in messages only.
Result<PathPage> parse_paths_page(std::string_view body, std::size_t page);

// One page of GET /v3/config/paths/list, reduced to what camreg reads.
struct ConfigPage {
  std::size_t item_count = 0;
  std::size_t page_count = 0;
  std::vector<std::pair<std::string, PathConfig>> items; // by configuration key (name)
  std::vector<std::string> unreadable;                   // why an item was skipped
};

// Parses one page of the configuration list: the envelope as parse_paths_page, then of
// each item only name, sourceOnDemand, alwaysAvailable and runOnDemand (absent: false).
// The body carries source URLs with credentials: no message ever quotes a value from it.
Result<ConfigPage> parse_config_page(std::string_view body, std::size_t page);

} // namespace camreg::mediamtx
