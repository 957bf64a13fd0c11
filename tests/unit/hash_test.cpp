// The hashes behind stored metadata hashes (fnv1a_64) and ETags (hash_bytes_64).
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "camreg/hash.hpp"

using namespace camreg;

TEST_CASE("fnv1a_64 is the published FNV-1a: stored hashes survive a rebuild", "[hash]") {
  CHECK(fnv1a_64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a_64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("hash_bytes_64 tells apart every length and every flipped bit", "[hash]") {
  // An ETag must change whenever the answer does: bodies differing in one byte, in their
  // length only (a trailing zero byte), or in the tail past the last whole word.
  std::string body(67, 'x');
  for (std::size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>('a' + i % 26);
  std::set<std::uint64_t> seen;
  std::size_t made = 0;
  for (std::size_t n = 0; n <= body.size(); ++n) {
    const std::string_view prefix(body.data(), n);
    CHECK(hash_bytes_64(prefix) == hash_bytes_64(std::string(prefix)));
    seen.insert(hash_bytes_64(prefix));
    ++made;
    seen.insert(hash_bytes_64(std::string(prefix) + '\0'));
    ++made;
    for (std::size_t i = 0; i < n; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string flipped(prefix);
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
        seen.insert(hash_bytes_64(flipped));
        ++made;
      }
    }
  }
  // Every input above is distinct (a letter never becomes zero by one flipped bit).
  CHECK(seen.size() == made);
}

TEST_CASE("Hasher64 given pieces of any size is hash_bytes_64 of their concatenation", "[hash]") {
  std::string body(67, 'x');
  for (std::size_t i = 0; i < body.size(); ++i)
    body[i] = static_cast<char>('a' + i % 26);
  const auto piece = GENERATE(1, 3, 7, 8, 9, 16, 100);
  CAPTURE(piece);
  for (std::size_t n = 0; n <= body.size(); ++n) {
    const std::string_view whole(body.data(), n);
    Hasher64 h;
    // Uneven pieces: piece, then piece + 1, ...
    std::size_t at = 0;
    for (std::size_t step = static_cast<std::size_t>(piece); at < n; ++step) {
      h.add(whole.substr(at, step));
      at += std::min(step, n - at);
    }
    h.add({});
    CHECK(h.size() == n);
    CHECK(h.value() == hash_bytes_64(whole));
  }
}
