// Another Hydro service embedding camreg's core through the installed package.
#include <cstdio>

#include <camreg/duration.hpp>
#include <camreg/metadata.hpp>
#include <camreg/url.hpp>

int main() {
  const auto base = camreg::parse_http_url("http://user:secret@cams.example:8889");
  const auto stale = camreg::parse_duration("5m");
  if (!base || !stale) return 1;
  camreg::PathState path;
  path.name = "site-a/cam_1";
  path.available = true;
  const auto metadata = camreg::render_metadata(path, camreg::whep_url(*base, path.name));
  std::puts(metadata.c_str());
  const bool ok =
      metadata.find("\"state\":\"live\"") != std::string::npos &&
      metadata.find("http://cams.example:8889/site-a/cam_1/whep") != std::string::npos &&
      metadata.find("secret") == std::string::npos && *stale == std::chrono::minutes(5);
  return ok ? 0 : 1;
}
