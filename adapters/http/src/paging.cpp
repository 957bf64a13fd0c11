#include "paging.hpp"

#include <array>
#include <charconv>

namespace camreg::http::detail {

namespace {

constexpr char cursor_version = 1;
constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) {
  const auto at = alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(in[at]); };
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift : {18, 12, 6, 0})
      out += alphabet[(v >> shift) & 63];
  }
  if (const auto rest = in.size() - i; rest > 0) {
    const unsigned v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
  }
  return out;
}

// nullopt when in is not canonical unpadded base64url.
std::optional<std::string> unbase64url(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  unsigned acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6 | static_cast<unsigned>(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero, so that one position has one cursor.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Error bad(std::string_view parameter, std::string_view why) {
  return fail(ErrorKind::invalid_argument, std::string(parameter) + ": " + std::string(why));
}

} // namespace

std::string encode_cursor(const PagePosition& position) {
  std::string raw;
  raw.reserve(position.device_key.size() + position.device_type.size() + 2);
  raw += cursor_version;
  raw += position.device_key;
  raw += '\0';
  raw += position.device_type;
  return base64url(raw);
}

Result<PagePosition> decode_cursor(std::string_view cursor) {
  const auto raw = unbase64url(cursor);
  if (!raw) return bad("cursor", "not a cursor of this API (take it from the Link header)");
  if (raw->empty() || (*raw)[0] != cursor_version)
    return bad("cursor", "unknown cursor version (take it from the Link header)");
  const auto body = std::string_view(*raw).substr(1);
  const auto nul = body.find('\0');
  if (nul == std::string_view::npos || nul == 0 || !valid_device_type(body.substr(nul + 1)))
    return bad("cursor", "not a cursor of this API (take it from the Link header)");
  return PagePosition{std::string(body.substr(0, nul)), std::string(body.substr(nul + 1))};
}

Result<std::optional<PageQuery>> take_page_query(QueryParams& params) {
  std::optional<std::string> limit, cursor;
  for (auto it = params.begin(); it != params.end();) {
    auto* slot = it->first == "limit" ? &limit : it->first == "cursor" ? &cursor : nullptr;
    if (!slot) {
      ++it;
      continue;
    }
    if (*slot) return bad(it->first, "given more than once");
    *slot = std::move(it->second);
    it = params.erase(it);
  }
  if (!limit) {
    if (cursor) return bad("cursor", "needs limit (take both from the Link header)");
    return std::optional<PageQuery>();
  }
  PageQuery page;
  const auto* end = limit->data() + limit->size();
  const auto [ptr, ec] = std::from_chars(limit->data(), end, page.limit);
  if (limit->empty() || ec != std::errc() || ptr != end || page.limit < 1 ||
      page.limit > max_page_limit) {
    return bad("limit", "must be an integer from 1 to " + std::to_string(max_page_limit));
  }
  if (cursor) {
    auto position = decode_cursor(*cursor);
    if (!position) return position.error();
    page.after = std::move(*position);
  }
  return std::optional<PageQuery>(std::move(page));
}

std::string next_page_target(std::string_view path, std::string_view raw_query,
                             std::string_view cursor) {
  std::string target(path);
  target += '?';
  while (!raw_query.empty()) {
    const auto amp = raw_query.find('&');
    const auto pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (pair.empty() || pair.substr(0, pair.find('=')) == "cursor") continue;
    target += pair;
    target += '&';
  }
  target += "cursor=";
  target += cursor;
  return target;
}

} // namespace camreg::http::detail
