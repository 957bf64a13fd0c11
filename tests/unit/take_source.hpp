#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "reply.hpp"

namespace camreg::testing {

// A reply whose body is a source (the whole device list without gzip), made whole the way
// a session sends it, piece by piece, so that tests read reply.body() alike.
inline void take_source(http::detail::Reply& reply) {
  if (!reply.source) return;
  auto whole = std::make_shared<std::string>();
  for (auto piece = reply.source->next(); !piece.empty(); piece = reply.source->next())
    whole->append(piece);
  CHECK(whole->size() == reply.source->size());
  reply.res.body() = {whole->data(), whole->size()};
  reply.owner = whole;
  reply.source.reset();
}

} // namespace camreg::testing
