#include "api-server/descriptors.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>

namespace camreg::app::api_server {

namespace {

// Database connections (pool and change feed), a file per I/O thread, logs, and slack.
constexpr std::size_t reserved_descriptors = 32;

std::size_t open_descriptors() {
  std::error_code ec;
  std::size_t count = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++count;
  return count;
}

} // namespace

DescriptorFit fit_descriptor_limit(std::size_t max_connections) {
  DescriptorFit fit{max_connections, {}};
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return fit;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return fit;
  const auto soft = static_cast<std::size_t>(limit.rlim_cur);
  const auto used = open_descriptors() + reserved_descriptors;
  const auto left = soft > used ? soft - used : 1;
  if (max_connections > left) {
    fit.max_connections = left;
    fit.warning = "--max-connections " + std::to_string(max_connections) +
                  " exceeds the descriptors left under RLIMIT_NOFILE " + std::to_string(soft) +
                  "; capped at " + std::to_string(left);
  }
  return fit;
}

} // namespace camreg::app::api_server
