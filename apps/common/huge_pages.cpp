#include "common/huge_pages.hpp"

#include <gnu/libc-version.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

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

// Set across the one exec: whatever happens to GLIBC_TUNABLES on the way (the loader
// strips it from a secure-execution process), the program never execs itself twice.
constexpr const char* exec_marker = "CAMREG_HUGE_PAGES_EXEC";

// glibc.malloc.hugetlb came with glibc 2.35; an older glibc ignores it.
bool glibc_has_tunable() {
  int major = 0, minor = 0;
  return std::sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) == 2 &&
         (major > 2 || (major == 2 && minor >= 35));
}

// Under valgrind the exec would leave it (its tools follow no exec unless asked).
bool under_valgrind() {
  const char* preload = std::getenv("LD_PRELOAD");
  return preload != nullptr && std::strstr(preload, "vgpreload") != nullptr;
}

// This executable's path, so that the process keeps its name (an exec of /proc/self/exe
// would be called "exe" in ps and pgrep); /proc/self/exe when it cannot be read.
std::string own_path() {
  char path[PATH_MAX];
  const auto n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "/proc/self/exe";
  std::string out(path, static_cast<std::size_t>(n));
  constexpr std::string_view deleted = " (deleted)"; // replaced on disk since it started
  if (out.ends_with(deleted)) return "/proc/self/exe";
  return out;
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
  if (std::getenv(exec_marker) != nullptr) {
    unsetenv(exec_marker); // this is the program started again: once is enough
    return;
  }
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, tunable) != nullptr) return;
  if (getauxval(AT_SECURE) != 0 || sanitized() || under_valgrind() || !glibc_has_tunable()) return;
  if (thp_mode() != "madvise") return; // "always" needs no asking, "never" no trying
  std::string value = std::string(tunable) + "=1";
  if (current != nullptr && *current != '\0') value = std::string(current) + ":" + value;
  const std::string saved = current != nullptr ? current : "";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  setenv(exec_marker, "1", 1);
  execv(own_path().c_str(), argv);
  // Still here: the exec failed; run as we are, with the environment as it was.
  unsetenv(exec_marker);
  if (current != nullptr) {
    setenv("GLIBC_TUNABLES", saved.c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

std::string huge_pages_status() {
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (const char* set = current ? std::strstr(current, tunable) : nullptr) {
    const std::string_view value = set + std::strlen(tunable);
    if (value.starts_with("=0")) return "off by GLIBC_TUNABLES";
    if (!glibc_has_tunable()) return std::string("off (glibc ") + gnu_get_libc_version() + ")";
    return value.starts_with("=1") ? "asked" : "asked (GLIBC_TUNABLES)";
  }
  if (sanitized()) return "off under a sanitizer";
  if (!glibc_has_tunable()) return std::string("off (glibc ") + gnu_get_libc_version() + ")";
  const auto mode = thp_mode();
  if (mode == "always") return "always (kernel)";
  return mode.empty() ? "off (no transparent huge pages)" : "off (kernel: " + mode + ")";
}

} // namespace camreg::app
