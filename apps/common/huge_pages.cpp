#include "common/huge_pages.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace camreg::app {

namespace {

constexpr const char* tunable = "glibc.malloc.hugetlb";

// The kernel's transparent huge page mode: "always", "madvise" or "never" (empty when
// unreadable, as in a container without /sys).
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  const std::string modes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto open = modes.find('[');
  const auto close = modes.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return modes.substr(open + 1, close - open - 1);
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true; // the sanitizer's allocator replaces glibc's: the tunable would do nothing
#else
  return false;
#endif
}

} // namespace

void exec_with_huge_pages(char** argv) {
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, tunable) != nullptr) return;
  if (sanitized() || thp_mode() != "madvise") return; // "always" needs no asking
  std::string value = std::string(tunable) + "=1";
  if (current != nullptr && *current != '\0') value = std::string(current) + ":" + value;
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: the exec failed; run as we are, with the environment as it was.
  if (current != nullptr) {
    setenv("GLIBC_TUNABLES", current, 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

std::string huge_pages_status() {
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, "glibc.malloc.hugetlb=1") != nullptr)
    return "asked";
  if (current != nullptr && std::strstr(current, tunable) != nullptr)
    return "off by GLIBC_TUNABLES";
  if (sanitized()) return "off under a sanitizer";
  const auto mode = thp_mode();
  if (mode == "always") return "always (kernel)";
  return mode.empty() ? "off (no transparent huge pages)" : "off (kernel: " + mode + ")";
}

} // namespace camreg::app
