#include <catch2/catch.hpp>
#include <clocale>
#include <limits>

#include "camreg/json_writer.hpp"

using namespace camreg;

TEST_CASE("text that is not UTF-8 is made valid, a replacement per bad byte", "[json]") {
  CHECK(to_valid_utf8("plain ascii") == "plain ascii");
  CHECK(to_valid_utf8("caf\xC3\xA9 \xE6\x97\xA5") == "caf\xC3\xA9 \xE6\x97\xA5");
  CHECK(to_valid_utf8("caf\xE9") == "caf\xEF\xBF\xBD");           // Latin-1
  CHECK(to_valid_utf8("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD"); // cut sequence
  CHECK(to_valid_utf8(std::string_view("a\0b", 3)) ==
        "a\xEF\xBF\xBD"
        "b");                                                                     // NUL
  CHECK(to_valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // surrogate
}

TEST_CASE("the writer separates members and elements and escapes strings", "[json]") {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("a\"b");
  w.begin_array();
  w.number(std::int64_t{-1});
  w.number(std::uint64_t{18446744073709551615ULL});
  w.boolean(true);
  w.null();
  w.string("x\ny\x01");
  w.raw(R"({"k":[1]})");
  w.end_array();
  w.key("n");
  w.number(0.25);
  w.end_object();
  CHECK(out == R"({"a\"b":[-1,18446744073709551615,true,null,"x\ny\u0001",{"k":[1]}],"n":0.25})");
}

TEST_CASE("decimals use a point in any locale and non-finite numbers are null", "[json]") {
  const char* had = std::setlocale(LC_NUMERIC, nullptr);
  const std::string previous = had ? had : "C";
  std::setlocale(LC_NUMERIC, "de_DE.UTF-8"); // may not exist here; to_chars ignores it anyway
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  w.number(1.5);
  w.number(std::numeric_limits<double>::infinity());
  w.end_array();
  std::setlocale(LC_NUMERIC, previous.c_str());
  CHECK(out == "[1.5,null]");
}
