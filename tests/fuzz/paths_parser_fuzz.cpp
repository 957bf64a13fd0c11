// libFuzzer target: the MediaMTX path list and path config list parsers must not
// crash, leak or hang on any input. Built with -DCAMREG_FUZZ=ON and clang (the "fuzz" preset); run
// by tests/fuzz/run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "camreg/metadata.hpp"
#include "paths_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto page = camreg::mediamtx::parse_paths_page(body, 0);
  if (page) {
    // Whatever parses must also render: metadata is what reaches the database.
    for (const auto& path : page->items) {
      const auto metadata = camreg::render_metadata(path, "http://localhost:8889/x/whep");
      if (metadata.empty() || metadata.front() != '{') __builtin_trap();
      // Every item is either read, with a name, or unreadable with a reason.
      if (path.unreadable.empty() && path.name.empty()) __builtin_trap();
    }
  }
  const auto config = camreg::mediamtx::parse_config_page(body, 0);
  if (config && config->items.size() + config->unreadable.size() > size) __builtin_trap();
  return 0;
}
