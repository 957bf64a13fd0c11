#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "camreg/path_source.hpp"
#include "camreg/result.hpp"

namespace camreg::mediamtx {

struct Options {
  // Base of the control API; http:// or https://. Userinfo in it is used as Basic
  // credentials when user and password are empty, and never logged.
  std::string api_url = "http://127.0.0.1:9997";
  std::string user; // HTTP Basic, with password
  std::string password;
  std::string token; // "Authorization: Bearer <token>": a JWT, or "user:pass"
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds total_timeout{10000}; // the whole listing, every page
  std::size_t max_response_bytes = 64u << 20;     // one page's body
  std::size_t max_pages = 10'000;
  std::size_t items_per_page = 1000;
  std::string ca_file;    // an extra CA for https (PEM); system CAs are always trusted
  bool verify_tls = true; // false only for tests against self-signed servers
};

// A PathSource reading GET /v3/paths/list, every page, then GET /v3/config/paths/list,
// every page, from MediaMTX. Fails at construction on an unusable URL or CA file
// (invalid_argument). list_paths() fails with unavailable (refused, reset, or the list
// changed under three walks in a row), timeout, auth (401/403), protocol (bad status,
// content type, JSON or page envelope) or too_large (body or page count), naming the
// page; a failed listing returns nothing partial.
//
// What a successful listing holds:
// - A list is a snapshot: when itemCount or pageCount changes between its pages (a path
//   came or went, so another slid across a page boundary), it is walked again from page
//   0, at most three walks in all.
// - Every item of every page, in MediaMTX's order. An item that cannot be understood (a
//   mistyped field, a name over max_path_name_bytes or with a control character) is a
//   PathState with unreadable = the reason, naming page, item and field; its name is
//   set when the name was valid, else empty; every other field is default.
// - config is set on a readable path whose confName is a key (name) of the
//   configuration list; sourceOnDemand, alwaysAvailable and runOnDemand are read from
//   it and nothing else (it holds source URLs with credentials). A configuration list
//   that cannot be read (404 before MediaMTX had it, 401/403 without permission, any
//   other fault, or a key missing or unreadable) is not an error: config stays absent.
// Not thread-safe.
Result<std::unique_ptr<PathSource>> make_path_source(Options options);

// The longest path name accepted (MediaMTX's own names are short ASCII slugs).
inline constexpr std::size_t max_path_name_bytes = 1024;

} // namespace camreg::mediamtx
