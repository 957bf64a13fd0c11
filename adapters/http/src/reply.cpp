#include "reply.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "camreg/json_writer.hpp"

namespace camreg::http::detail {

Reply text_reply(bhttp::status status, std::string body, std::string_view type, unsigned version) {
  auto owner = std::make_shared<std::string>(std::move(body));
  Reply reply{Response{status, version}, owner};
  reply.res.set(bhttp::field::content_type, type);
  reply.res.body() = {owner->data(), owner->size()};
  return reply;
}

Reply json_reply(bhttp::status status, std::string body, unsigned version) {
  auto reply = text_reply(status, std::move(body), "application/json", version);
  reply.res.set(bhttp::field::cache_control, "no-cache");
  return reply;
}

Reply error_reply(bhttp::status status, std::string_view code, std::string_view detail,
                  unsigned version) {
  std::string body;
  JsonWriter out(body);
  out.begin_object();
  out.key("error");
  out.string(code);
  out.key("detail");
  out.string(detail);
  out.end_object();
  return json_reply(status, std::move(body), version);
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& cors_origins) {
  return std::any_of(cors_origins.begin(), cors_origins.end(), [&](const std::string& allowed) {
    return allowed == "*" || allowed == origin;
  });
}

void decorate(Reply& reply, std::string_view origin, const std::vector<std::string>& cors_origins) {
  auto& res = reply.res;
  res.set(bhttp::field::server, "camreg");
  res.set("X-Content-Type-Options", "nosniff");
  const bool any = std::find(cors_origins.begin(), cors_origins.end(), "*") != cors_origins.end();
  // A cache must not hand one origin's answer (with or without CORS headers) to another.
  if (!cors_origins.empty() && !any) {
    res.set(bhttp::field::vary, res[bhttp::field::vary].empty()
                                    ? std::string("Origin")
                                    : std::string(res[bhttp::field::vary]) + ", Origin");
  }
  if (origin.empty() || !origin_allowed(origin, cors_origins)) return;
  res.set(bhttp::field::access_control_allow_origin, any ? std::string("*") : std::string(origin));
  res.set(bhttp::field::access_control_expose_headers, "ETag, X-Registry-Age");
}

bool accepts_gzip(std::string_view header) {
  std::string value(header);
  for (auto& c : value)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::size_t pos = value.find("gzip"); pos != std::string::npos;
       pos = value.find("gzip", pos + 4)) {
    auto rest = std::string_view(value).substr(pos + 4);
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty() || rest.front() == ',') return true;
    if (rest.front() == ';') {
      const auto q = rest.find("q=");
      if (q == std::string_view::npos) return true;
      double weight = 1;
      const auto digits = rest.substr(q + 2);
      std::from_chars(digits.data(), digits.data() + digits.size(), weight);
      return weight > 0;
    }
  }
  return false;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "Bearer ";
  if (token.empty() || authorization.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(scheme[i])))
      return false;
  }
  const auto given = authorization.substr(scheme.size());
  // Every byte of the token is looked at whatever the given text is.
  unsigned diff = given.size() == token.size() ? 0U : 1U;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const auto g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0U;
    diff |= g ^ static_cast<unsigned char>(token[i]);
  }
  return diff == 0;
}

} // namespace camreg::http::detail
