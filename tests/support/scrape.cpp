#include "scrape.hpp"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace camreg::testing {

std::pair<int, std::string> promtool_check(const std::string& text, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto in = dir / (name + ".prom");
  const auto out = dir / (name + ".promtool");
  std::ofstream(in, std::ios::binary) << text;
  const auto command =
      "promtool check metrics < '" + in.string() + "' > '" + out.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream findings(out);
  std::string said((std::istreambuf_iterator<char>(findings)), std::istreambuf_iterator<char>());
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  return {status, said};
}

std::optional<double> metric_value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      std::istringstream value(line.substr(series.size() + 1));
      value.imbue(std::locale::classic());
      double v = 0;
      if (value >> v) return v;
    }
  }
  return std::nullopt;
}

std::string gunzip(const std::string& data) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  std::string out(data.size() * 200 + (1 << 20), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(inflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

} // namespace camreg::testing
