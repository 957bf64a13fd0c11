// The executables' log lines: JSON lines that parse back to what was logged, whatever
// the text, and the plain-text form operators grep.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "common/log.hpp"

using namespace camreg::app;

namespace {

// What a Logger wrote, read back from a temporary file.
class Captured {
 public:
  Captured() : file_(std::tmpfile(), &std::fclose) { REQUIRE(file_); }
  std::FILE* file() const { return file_.get(); }
  std::string text() const {
    std::rewind(file_.get());
    std::string out;
    char buffer[4096];
    while (const auto n = std::fread(buffer, 1, sizeof buffer, file_.get()))
      out.append(buffer, n);
    return out;
  }

 private:
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
};

} // namespace

TEST_CASE("a JSON log line parses back to every field logged", "[log]") {
  Captured out;
  const Logger log(LogLevel::debug, LogFormat::json, out.file());
  const std::string hostile = "quote \" backslash \\ newline \n tab \t nul";
  log.log(LogLevel::warn, "round", hostile,
          {{"reason", std::string("invalid \xff\xfe utf-8")},
           {"count", -42LL},
           {"big", 9'007'199'254'740'993LL},
           {"ok", false},
           {"weird \"key\"", true}});
  const auto text = out.text();
  REQUIRE(text.size() > 1);
  CHECK(text.back() == '\n');
  CHECK(text.find('\n') == text.size() - 1); // one line, whatever the message holds
  CHECK(text.rfind("{\"ts\":\"", 0) == 0);
  boost::json::error_code ec;
  const auto value = boost::json::parse(text, ec);
  REQUIRE_FALSE(ec);
  const auto& line = value.as_object();
  CHECK(line.size() == 9);
  CHECK(line.at("level").as_string() == "warn");
  CHECK(line.at("event").as_string() == "round");
  CHECK(line.at("msg").as_string() == hostile);
  CHECK(line.at("reason").as_string() == "invalid \xEF\xBF\xBD\xEF\xBF\xBD utf-8");
  CHECK(line.at("count").as_int64() == -42);
  CHECK(line.at("big").as_int64() == 9'007'199'254'740'993LL);
  CHECK(line.at("ok").as_bool() == false);
  CHECK(line.at("weird \"key\"").as_bool() == true);
  const std::string ts(line.at("ts").as_string());
  CHECK(ts.size() >= 20);
  CHECK(ts.back() == 'Z');
}

TEST_CASE("lines below the logger's level are dropped", "[log]") {
  Captured out;
  const Logger log(LogLevel::warn, LogFormat::json, out.file());
  log.log(LogLevel::info, "round", "quiet");
  log.log(LogLevel::error, "round", "loud");
  const auto text = out.text();
  CHECK(text.find("quiet") == std::string::npos);
  CHECK(text.find("\"msg\":\"loud\"") != std::string::npos);
}

TEST_CASE("a text log line quotes only values that need it", "[log]") {
  Captured out;
  const Logger log(LogLevel::info, LogFormat::text, out.file());
  log.log(LogLevel::info, "round", "synced 2 paths",
          {{"source", std::string("mtx:9997")},
           {"reason", std::string("two words")},
           {"empty", std::string()},
           {"n", 2LL},
           {"ok", true}});
  CHECK(out.text() ==
        "info round: synced 2 paths source=mtx:9997 reason=\"two words\" empty=\"\" n=2 ok=true\n");
}
