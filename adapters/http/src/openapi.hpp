#pragma once

#include <string_view>

namespace camreg::http::detail {

// The OpenAPI 3.1 document of the HTTP API (adapters/http/openapi.json, embedded at
// build time), served at GET /api/openapi.json.
std::string_view openapi_document();

} // namespace camreg::http::detail
