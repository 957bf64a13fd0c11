#include <catch2/catch.hpp>

#include "camreg/url.hpp"

using namespace camreg;

TEST_CASE("http URLs are split into the parts a client needs", "[url]") {
  const auto url = parse_http_url("HTTP://api%20user:p%40ss@mediamtx.local:9997/base/").value();
  CHECK(url.scheme == "http");
  CHECK(url.user == "api user");
  CHECK(url.password == "p@ss");
  CHECK(url.host == "mediamtx.local");
  CHECK(url.port == 9997);
  CHECK(url.path == "/base");
  CHECK(url.redacted() == "http://mediamtx.local:9997/base");

  CHECK(parse_http_url("https://h").value().port == 443);
  CHECK(parse_http_url("http://h").value().port == 80);
  const auto v6 = parse_http_url("http://[::1]:9997").value();
  CHECK(v6.host == "::1");
  CHECK(v6.redacted() == "http://[::1]:9997");
}

TEST_CASE("malformed URLs are refused with the reason", "[url]") {
  const auto [text, reason] = GENERATE(table<std::string, std::string>({
      {"", "expected http://"},
      {"localhost:9997", "expected http://"},
      {"ftp://h", "scheme"},
      {"http://", "missing host"},
      {"http://:9997", "missing host"},
      {"http://h:0", "port"},
      {"http://h:65536", "port"},
      {"http://h:99x", "port"},
      {"http://h:", "empty port"},
      {"http://h/x?y=1", "query"},
      {"http://[::1", "IPv6"},
      {"http://u:%zz@h", "percent"},
  }));
  CAPTURE(text);
  const auto url = parse_http_url(text);
  REQUIRE_FALSE(url);
  CHECK(url.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(url.error().message, Catch::Contains(reason));
}

TEST_CASE("an invalid URL's error never repeats its password", "[url][security]") {
  const auto url = parse_http_url("http://admin:hunter2@h:notaport");
  REQUIRE_FALSE(url);
  CHECK(url.error().message.find("hunter2") == std::string::npos);
}

TEST_CASE("userinfo is removed from every URL in a text", "[url][security]") {
  CHECK(redact_userinfo("rtsp://admin:pw@10.0.0.5:554/s") == "rtsp://10.0.0.5:554/s");
  CHECK(redact_userinfo("a rtsp://u:p@h/x and http://v@w/ end") ==
        "a rtsp://h/x and http://w/ end");
  CHECK(redact_userinfo("http://h/path@not-userinfo") == "http://h/path@not-userinfo");
  CHECK(redact_userinfo("user@example.com") == "user@example.com");
  CHECK(redact_userinfo("rtsp://u:p@ss@h/x") == "rtsp://h/x");
  CHECK(redact_userinfo("") == "");
  CHECK(redact_userinfo("://@") == "://@");
}

TEST_CASE("WHEP URLs keep nested names and drop credentials", "[url]") {
  const auto base = parse_http_url("http://localhost:8889").value();
  CHECK(whep_url(base, "cam1") == "http://localhost:8889/cam1/whep");
  CHECK(whep_url(base, "site-a/building.2/cam_1") ==
        "http://localhost:8889/site-a/building.2/cam_1/whep");
  CHECK(whep_url(base, "a b#?") == "http://localhost:8889/a%20b%23%3F/whep");
  CHECK(whep_url(parse_http_url("https://u:p@cams.example/").value(), "x") ==
        "https://cams.example/x/whep");
  CHECK(whep_url(parse_http_url("http://h:80/prefix").value(), "x") == "http://h/prefix/x/whep");
}
