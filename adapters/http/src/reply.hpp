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

// A body made a bounded piece at a time as it is sent, for an answer too large to hold
// whole per request (the whole device list without gzip). Used by one session only.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The whole body's size (its Content-Length).
  virtual std::size_t size() const = 0;
  // The next piece, valid until the next call; empty once size() bytes were given.
  virtual std::string_view next() = 0;
};

// A response and what keeps its body's bytes alive (a string, or a snapshot's gzip).
struct Reply {
  Response res;
  std::shared_ptr<const void> owner;
  bool close = false; // close the connection after sending
  // Set: the body is this stream of events, sent in chunks after the header until the
  // stream or the connection ends.
  std::shared_ptr<EventStream> stream = nullptr;
  // Set: the body is this source's (res.body() is empty), sent with its Content-Length.
  std::shared_ptr<BodySource> source = nullptr;

  // The body when it is held whole (not a source's).
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

// Whether an Accept-Encoding header value takes gzip (case-insensitive; "gzip;q=0" does not).
bool accepts_gzip(std::string_view header);

// Whether an Authorization header is "Bearer <token>" (the scheme in any case); the token
// is compared in time that does not depend on where it differs. An empty token matches
// nothing.
bool bearer_matches(std::string_view authorization, std::string_view token);

} // namespace camreg::http::detail
