#include "camreg/url.hpp"

#include <charconv>

namespace camreg {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.';
}

} // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_value(in[i + 1]);
      const int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return true;
}

std::string HttpUrl::redacted() const {
  std::string out = scheme + "://";
  if (host.find(':') != std::string::npos)
    out += "[" + host + "]";
  else
    out += host;
  out += ":" + std::to_string(port) + path;
  return out;
}

Result<HttpUrl> parse_http_url(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return fail(ErrorKind::invalid_argument,
                "invalid URL \"" + redact_userinfo(text.substr(0, 200)) + "\": " + why);
  };
  HttpUrl url;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad("expected http://host[:port][/path]");
  url.scheme = std::string(text.substr(0, sep));
  for (auto& c : url.scheme)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (url.scheme != "http" && url.scheme != "https") return bad("scheme must be http or https");
  std::string_view rest = text.substr(sep + 3);
  const auto auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view path = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (!path.empty() && path.front() != '/') return bad("query and fragment are not allowed");
  if (path.find_first_of("?#") != std::string_view::npos)
    return bad("query and fragment are not allowed");
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    const auto colon = info.find(':');
    if (!percent_decode(info.substr(0, colon), url.user) ||
        (colon != std::string_view::npos &&
         !percent_decode(info.substr(colon + 1), url.password))) {
      return bad("bad percent-encoding in userinfo");
    }
    authority = authority.substr(at + 1);
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    url.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after IPv6 literal");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const auto colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (url.host.empty()) return bad("missing host");
  for (char c : url.host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '%' || c == '"' || c == '<' || c == '>') {
      return bad("bad character in host");
    }
  }
  if (port_text.empty()) {
    url.port = url.scheme == "https" ? 443 : 80;
  } else {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return bad("port must be 1-65535");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  while (!path.empty() && path.back() == '/')
    path.remove_suffix(1);
  url.path = std::string(path);
  return url;
}

std::string redact_userinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    // The scheme must be a run of scheme characters right before "://".
    std::size_t scheme_start = sep;
    while (scheme_start > pos && is_scheme_char(text[scheme_start - 1]))
      --scheme_start;
    const std::size_t authority_start = sep + 3;
    std::size_t authority_end = authority_start;
    while (authority_end < text.size() && text[authority_end] != '/' &&
           text[authority_end] != '?' && text[authority_end] != '#' && text[authority_end] != ' ' &&
           text[authority_end] != '"' && text[authority_end] != '\n') {
      ++authority_end;
    }
    const auto authority = text.substr(authority_start, authority_end - authority_start);
    const auto at = authority.rfind('@');
    out.append(text.substr(pos, authority_start - pos));
    if (scheme_start < sep && at != std::string_view::npos) {
      out.append(authority.substr(at + 1));
    } else {
      out.append(authority);
    }
    pos = authority_end;
  }
  out.append(text.substr(pos));
  return out;
}

std::string whep_url(const HttpUrl& webrtc_base, std::string_view path_name) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = webrtc_base.redacted();
  // Ports that are the scheme default are dropped to keep the URL as an operator wrote it.
  const std::string default_port = webrtc_base.scheme == "https" ? ":443" : ":80";
  if (const auto at = out.find(default_port + webrtc_base.path);
      at != std::string::npos && at + default_port.size() + webrtc_base.path.size() == out.size()) {
    out.erase(at, default_port.size());
  }
  out += '/';
  for (const char c : path_name) {
    const auto u = static_cast<unsigned char>(c);
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '~' || c == '/' || c == '-';
    if (keep) {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  out += "/whep";
  return out;
}

} // namespace camreg
