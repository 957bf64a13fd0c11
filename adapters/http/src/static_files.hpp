#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "reply.hpp"

namespace camreg::http::detail {

// The file under root (canonical) that the request path names, percent-decoded, with
// "index.html" for a directory: 200 with its content type and a strict Content-Security-
// Policy whose connect-src is the page's origin and webrtc_origins only; 400 for a malformed path;
// 404 for anything missing or outside root.
Reply serve_static_file(const std::filesystem::path& root, std::string_view target_path,
                        unsigned version, const std::vector<std::string>& webrtc_origins = {});

// The Content-Type of a file, by extension.
std::string_view mime_type(const std::filesystem::path& path);

} // namespace camreg::http::detail
