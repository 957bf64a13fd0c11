#include "static_files.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "camreg/url.hpp"

namespace camreg::http::detail {

namespace fs = std::filesystem;

namespace {

// The page talks to its own origin (the API) and to MediaMTX's WebRTC origins (WHEP),
// nowhere else: a link cannot point it at another API.
std::string content_security_policy(const std::vector<std::string>& webrtc_origins) {
  std::string connect = "'self'";
  for (const auto& origin : webrtc_origins)
    connect += " " + origin;
  return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "media-src 'self' blob: mediastream:; connect-src " +
         connect +
         "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";
}

Reply not_found(unsigned version) {
  return error_reply(bhttp::status::not_found, "not_found", "no such resource", version);
}

// Whole components: /srv/dash2/x is not within /srv/dash.
bool within(const fs::path& root, const fs::path& file) {
  const auto [r, f] = std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  return r == root.end();
}

} // namespace

std::string_view mime_type(const fs::path& path) {
  auto ext = path.extension().string();
  for (auto& c : ext)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

Reply serve_static_file(const fs::path& root, std::string_view target_path, unsigned version,
                        const std::vector<std::string>& webrtc_origins) {
  std::string path;
  if (!percent_decode(target_path, path, false) || path.find('\0') != std::string::npos ||
      path.find('\\') != std::string::npos) {
    return error_reply(bhttp::status::bad_request, "bad_request", "malformed path", version);
  }
  // No "." or ".." segment may appear, encoded or not.
  for (std::size_t start = 1; start <= path.size();) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto segment = std::string_view(path).substr(start, end - start);
    if (segment == "." || segment == "..") return not_found(version);
    start = end + 1;
  }
  if (path.empty() || path.back() == '/') path += "index.html";
  std::error_code ec;
  const auto file = fs::weakly_canonical(root / fs::path(path).relative_path(), ec);
  if (ec || !within(root, file) || !fs::is_regular_file(file, ec)) {
    return not_found(version);
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  auto reply = text_reply(bhttp::status::ok, content.str(), mime_type(file), version);
  reply.res.set(bhttp::field::cache_control, "no-cache");
  reply.res.set("Content-Security-Policy", content_security_policy(webrtc_origins));
  reply.res.set("Referrer-Policy", "no-referrer");
  return reply;
}

} // namespace camreg::http::detail
