#pragma once

#include <cstdint>
#include <string_view>

namespace camreg {

// FNV-1a, 64 bits: the same value for the same bytes on every compiler and release
// (unlike std::hash), so it may be stored or sent. Not for adversarial collisions.
constexpr std::uint64_t fnv1a_64(std::string_view bytes) noexcept {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

} // namespace camreg
