#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace camreg::http::detail {

namespace bhttp = boost::beast::http;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::span_body<const char>>;

class EventStream;

// A response and what keeps its body's bytes alive (a string, or a shared snapshot).
struct Reply {
  Response res;
  std::shared_ptr<const void> owner;
  bool close = false; // close the connection after sending
  // Set: the body is this stream of events, sent in chunks after the header until the
  // stream or the connection ends.
  std::shared_ptr<EventStream> stream = nullptr;

  std::string_view body() const { return {res.body().data(), res.body().size()}; }
};

// body as the whole response, of the given content type.
Reply text_reply(bhttp::status status, std::string body, std::string_view type, unsigned version);
// A JSON body, not to be cached without revalidation.
Reply json_reply(bhttp::status status, std::string body, unsigned version);
// The API's error shape: {"error": code, "detail": detail}.
Reply error_reply(bhttp::status status, std::string_view code, std::string_view detail,
                  unsigned version);

// Adds the headers every response carries, and CORS when origin is one of cors_origins
// ("*": any).
void decorate(Reply& reply, std::string_view origin, const std::vector<std::string>& cors_origins);
bool origin_allowed(std::string_view origin, const std::vector<std::string>& cors_origins);

} // namespace camreg::http::detail
