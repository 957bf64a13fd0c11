#include "camreg/result.hpp"

namespace camreg {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::unavailable: return "unavailable";
  case ErrorKind::timeout: return "timeout";
  case ErrorKind::auth: return "auth";
  case ErrorKind::protocol: return "protocol";
  case ErrorKind::too_large: return "too_large";
  case ErrorKind::database: return "database";
  case ErrorKind::busy: return "busy";
  case ErrorKind::invalid_argument: return "invalid_argument";
  case ErrorKind::not_found: return "not_found";
  case ErrorKind::cancelled: return "cancelled";
  }
  return "unknown";
}

BadResultAccess::BadResultAccess(const Error& error)
    : std::logic_error("Result holds an error (" + std::string(to_string(error.kind)) +
                       "): " + error.message) {}

} // namespace camreg
