#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "camreg/device_query.hpp"
#include "camreg/result.hpp"

namespace camreg::http::detail {

// Where a page of /api/devices starts: after the device (device_key, device_type), in the
// order of device_key then device_type, byte by byte.
struct PagePosition {
  std::string device_key;
  std::string device_type;
};

// ?limit=N[&cursor=…] of /api/devices.
struct PageQuery {
  std::size_t limit = 0;
  std::optional<PagePosition> after; // none: the first page
};

inline constexpr std::size_t max_page_limit = 10000;

// Takes limit (1..max_page_limit) and cursor out of params. nullopt: no limit, so no
// paging. Fails with invalid_argument naming the parameter: a malformed or repeated
// limit or cursor, or a cursor without a limit.
Result<std::optional<PageQuery>> take_page_query(QueryParams& params);

// The opaque cursor of a position: base64url (no padding) of a version byte, the key, a
// NUL and the type. Keys and types hold no NUL (PostgreSQL text cannot).
std::string encode_cursor(const PagePosition& position);
Result<PagePosition> decode_cursor(std::string_view cursor);

// The target of the next page: path and the raw query, its cursor replaced by cursor.
std::string next_page_target(std::string_view path, std::string_view raw_query,
                             std::string_view cursor);

} // namespace camreg::http::detail
