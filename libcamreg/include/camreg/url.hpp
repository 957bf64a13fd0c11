#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "camreg/result.hpp"

namespace camreg {

// An http:// or https:// URL split into the parts a client needs.
struct HttpUrl {
  std::string scheme; // "http" or "https"
  std::string user;   // percent-decoded; empty when absent
  std::string password;
  std::string host; // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string path; // "" or starting with '/', no trailing '/'

  bool has_userinfo() const { return !user.empty() || !password.empty(); }
  // scheme://host:port/path, never the userinfo.
  std::string redacted() const;
};

// Fails with invalid_argument naming what is wrong (scheme, host, port, query...).
Result<HttpUrl> parse_http_url(std::string_view text);

// Decodes %XX escapes (and '+' as a space when plus_is_space, as in query strings)
// into out; false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

// Removes the userinfo ("user:pass@") of every URL inside text, leaving the rest
// byte for byte: "rtsp://a:b@cam/x" -> "rtsp://cam/x".
std::string redact_userinfo(std::string_view text);

// The WHEP endpoint of a path: base (redacted, trailing '/' dropped) + "/" + name +
// "/whep". Nested names keep their '/'; bytes outside [A-Za-z0-9_.~/-] are
// percent-encoded.
std::string whep_url(const HttpUrl& webrtc_base, std::string_view path_name);

} // namespace camreg
