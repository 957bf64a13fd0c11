#pragma once

#include <cstddef>
#include <string>

namespace camreg::app::api_server {

// What fit_descriptor_limit did: the connection cap to run with, and a warning to log
// when it lowered the one asked for (empty otherwise).
struct DescriptorFit {
  std::size_t max_connections = 0;
  std::string warning;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit, then caps max_connections
// below the descriptors left after those already open and a reserve (database
// connections, the dashboard's files). Never raises max_connections; at least 1.
DescriptorFit fit_descriptor_limit(std::size_t max_connections);

} // namespace camreg::app::api_server
