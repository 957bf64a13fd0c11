#pragma once

// Internal to the MediaMTX adapter; the unit tests and the fuzzer reach it through a
// private include directory.

#include <cstddef>
#include <string_view>
#include <vector>

#include "camreg/path_source.hpp"
#include "camreg/result.hpp"

namespace camreg::mediamtx {

// One page of GET /v3/paths/list.
struct PathPage {
  std::size_t item_count = 0;
  std::size_t page_count = 0;
  std::vector<PathState> items;
};

// Parses one page body, tolerant of every v3 shape (v1.2 to v1.20: ready/available,
// tracks/tracks2, bytesReceived/inboundBytes, null source) and of unknown fields.
// A missing or mistyped field, or a name over max_path_name_bytes or with control
// characters, fails with protocol naming the page, the item and the field. page is
// used in messages only.
Result<PathPage> parse_paths_page(std::string_view body, std::size_t page);

} // namespace camreg::mediamtx
