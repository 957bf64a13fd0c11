#include <boost/json.hpp>
#include <future>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "camreg/http_client/http_client.hpp"
#include "camreg/mediamtx/mediamtx.hpp"
#include "paths_parser.hpp"

namespace camreg::mediamtx {

namespace json = boost::json;
using SteadyTime = std::chrono::steady_clock::time_point;

// How many times a list is walked from page 0 while it keeps changing under the walk.
constexpr std::size_t max_walks = 3;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// The message of MediaMTX's JSON error ({"status":"error","error":"…"}, before v1.0
// {"error":"…"}), else the start of the body (a proxy's HTML page, plain text).
std::string error_text(std::string_view body) {
  // Error bodies are small; a large one is not worth parsing to show 200 bytes of it.
  if (body.size() <= 64 * 1024) {
    json::error_code ec;
    const json::value doc = json::parse(body, ec);
    if (!ec && doc.is_object()) {
      if (const json::value* error = doc.get_object().if_contains("error");
          error != nullptr && error->is_string()) {
        return http_client::excerpt(error->get_string(), 200);
      }
    }
  }
  return http_client::excerpt(body, 120);
}

class MediamtxPathSource final : public PathSource {
 public:
  MediamtxPathSource(Options options, http_client::Client client)
      : options_(std::move(options)), client_(std::move(client)) {
    std::string user = options_.user, password = options_.password;
    if (user.empty() && password.empty()) {
      user = client_.url().user;
      password = client_.url().password;
    }
    if (!options_.token.empty())
      authorization_ = http_client::bearer_authorization(options_.token);
    else if (!user.empty() || !password.empty())
      authorization_ = http_client::basic_authorization(user, password);
  }

  // Returns every listed path in MediaMTX's order, each with its configuration when the
  // configuration list could be read (see mediamtx.hpp).
  Result<std::vector<PathState>> list_paths() override {
    const SteadyTime deadline = std::chrono::steady_clock::now() + options_.total_timeout;
    auto pages = walk<PathPage>(paths_endpoint, parse_paths_page, deadline);
    if (!pages) return pages.error();
    std::vector<PathState> paths;
    std::size_t total = 0;
    for (const auto& page : *pages)
      total += page.items.size();
    paths.reserve(total); // moved in once, not again at every growth
    for (auto& page : *pages) {
      paths.insert(paths.end(), std::make_move_iterator(page.items.begin()),
                   std::make_move_iterator(page.items.end()));
    }
    // The configuration only refines what the paths say: without it (404 before the
    // config API, 401/403 without permission, any fault) the listing still stands. It
    // changes only when MediaMTX reloads its configuration, and its body is large
    // (~3 KB a path): it is read again after config_refresh, or when a path names a key
    // not read yet; a failed read keeps what was read before.
    const auto now = std::chrono::steady_clock::now();
    bool refresh = !config_read_at_ || now - *config_read_at_ >= config_refresh;
    for (const auto& path : paths) {
      if (refresh) break;
      if (path.unreadable.empty() && !by_name_.contains(path.conf_name)) refresh = true;
    }
    if (refresh) {
      if (auto configs = walk<ConfigPage>(config_endpoint, parse_config_page, deadline)) {
        by_name_.clear();
        for (const auto& page : *configs) {
          for (const auto& [name, config] : page.items)
            by_name_.insert_or_assign(name, config);
        }
        config_read_at_ = now;
      } else if (!config_read_at_) {
        return paths;
      }
    }
    for (auto& path : paths) {
      if (!path.unreadable.empty()) continue;
      if (const auto found = by_name_.find(path.conf_name); found != by_name_.end())
        path.config = found->second;
    }
    return paths;
  }

  std::string describe() const override { return client_.redacted_url(); }

 private:
  static constexpr std::string_view paths_endpoint = "/v3/paths/list";
  static constexpr std::string_view config_endpoint = "/v3/config/paths/list";
  static constexpr std::chrono::minutes config_refresh{5};
  std::unordered_map<std::string, PathConfig> by_name_; // the configuration last read
  std::optional<SteadyTime> config_read_at_;

  std::string page_target(std::string_view endpoint, std::size_t page) const {
    return client_.url().path + std::string(endpoint) + "?page=" + std::to_string(page) +
           "&itemsPerPage=" + std::to_string(options_.items_per_page);
  }
  std::string page_url(std::string_view endpoint, std::size_t page) const {
    return client_.redacted_url() + page_target(endpoint, page);
  }

  // Every page of a list, read as one snapshot. MediaMTX has no cursor: when a path
  // before the page boundary vanishes between two requests, the next one slides onto a
  // page already read and would be missed. Any change of itemCount or pageCount while
  // the pages are read therefore starts the walk over from page 0, up to max_walks
  // times. Loops are bounded by pageCount, never by an empty page (older servers repeat
  // the last one). Once page 0 has told how many pages there are, page N + 1 is fetched
  // on a thread of its own while page N is parsed; a fetch still running when the walk
  // ends early (an error, a change) is waited for, and it ends by the deadline.
  template <class Page>
  Result<std::vector<Page>> walk(std::string_view endpoint,
                                 Result<Page> (*parse)(std::string_view, std::size_t),
                                 SteadyTime deadline) {
    std::string changes;
    for (std::size_t attempt = 1;; ++attempt) {
      std::vector<Page> pages;
      std::size_t item_count = 0, page_count = 1;
      bool changed = false;
      std::future<Result<std::string>> next; // page + 1, once page 0 was read
      for (std::size_t page = 0; page < page_count && !changed; ++page) {
        auto body = page == 0 ? fetch_page(endpoint, page, deadline) : next.get();
        if (!body) return body.error();
        if (page > 0 && page + 1 < page_count) next = prefetch(endpoint, page + 1, deadline);
        auto parsed = parse(*body, page);
        if (!parsed) {
          return fail(parsed.error().kind,
                      "GET " + page_url(endpoint, page) + ": " + parsed.error().message);
        }
        if (page == 0) {
          item_count = parsed->item_count;
          page_count = parsed->page_count;
          if (page_count > options_.max_pages) {
            return fail(ErrorKind::too_large, "GET " + page_url(endpoint, page) +
                                                  ": the list has " + std::to_string(page_count) +
                                                  " pages, more than the limit of " +
                                                  std::to_string(options_.max_pages));
          }
          if (page_count > 1) next = prefetch(endpoint, 1, deadline);
        } else if (parsed->item_count != item_count || parsed->page_count != page_count) {
          changed = true;
          changes += (changes.empty() ? "" : "; ") + std::string("itemCount ") +
                     std::to_string(item_count) + " -> " + std::to_string(parsed->item_count) +
                     ", pageCount " + std::to_string(page_count) + " -> " +
                     std::to_string(parsed->page_count) + " at page " + std::to_string(page);
        }
        pages.push_back(std::move(*parsed));
      }
      if (!changed) return pages;
      if (attempt == max_walks) {
        return fail(ErrorKind::unavailable,
                    "GET " + client_.redacted_url() + client_.url().path + std::string(endpoint) +
                        ": the list changed while its pages were read, " +
                        std::to_string(max_walks) + " walks in a row (" + changes + ")");
      }
    }
  }

  // fetch_page on a thread of its own (in the caller's, when no thread can be started).
  // The future's destructor waits for it: nothing outlives the walk that asked.
  std::future<Result<std::string>> prefetch(std::string_view endpoint, std::size_t page,
                                            SteadyTime deadline) const {
    return std::async(std::launch::async | std::launch::deferred, [this, endpoint, page, deadline] {
      return fetch_page(endpoint, page, deadline);
    });
  }

  // Thread-safe: reads only what construction set (Client::send is thread-safe).
  Result<std::string> fetch_page(std::string_view endpoint, std::size_t page,
                                 SteadyTime deadline) const {
    const std::string where = "GET " + page_url(endpoint, page) + ": ";
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(ErrorKind::timeout, where + "timed out (total timeout " +
                                          std::to_string(options_.total_timeout.count()) + " ms)");
    }
    http_client::Request request;
    request.target = page_target(endpoint, page);
    request.headers.emplace_back("Accept", "application/json");
    if (!authorization_.empty()) request.headers.emplace_back("Authorization", authorization_);
    auto response = client_.send(request, deadline);
    if (!response) return fail(response.error().kind, where + response.error().message);
    const int status = response->status;
    if (status == 401 || status == 403) {
      return fail(ErrorKind::auth,
                  where + "authentication failed (" + std::to_string(status) + ": " +
                      error_text(response->body) +
                      "). MediaMTX serves its API without credentials only to localhost: give "
                      "camreg a user with the api permission in authInternalUsers "
                      "(--mediamtx-user/--mediamtx-password) or a token (--mediamtx-token)");
    }
    if (status != 200) {
      return fail(ErrorKind::protocol,
                  where + "HTTP " + std::to_string(status) + ": " + error_text(response->body));
    }
    const auto type = response->header("Content-Type");
    if (lower(type).rfind("application/json", 0) != 0) {
      return fail(ErrorKind::protocol, where + "expected Content-Type application/json, got \"" +
                                           http_client::excerpt(type, 60) + "\"");
    }
    if (const auto encoding = lower(response->header("Content-Encoding"));
        !encoding.empty() && encoding != "identity") {
      return fail(ErrorKind::protocol, where + "unexpected Content-Encoding \"" +
                                           http_client::excerpt(encoding, 60) + "\"");
    }
    return std::move(response->body);
  }

  Options options_;
  http_client::Client client_;
  std::string authorization_;
};

} // namespace

Result<std::unique_ptr<PathSource>> make_path_source(Options options) {
  if (auto url = parse_http_url(options.api_url); !url) {
    return fail(ErrorKind::invalid_argument, "MediaMTX API URL: " + url.error().message);
  }
  if (options.items_per_page == 0 || options.max_pages == 0 || options.max_response_bytes == 0) {
    return fail(ErrorKind::invalid_argument, "MediaMTX limits must be positive");
  }
  http_client::Options client_options;
  client_options.url = options.api_url;
  client_options.connect_timeout = options.connect_timeout;
  client_options.max_response_bytes = options.max_response_bytes;
  client_options.ca_file = options.ca_file;
  client_options.verify_tls = options.verify_tls;
  client_options.user_agent = "camreg-sync-worker";
  auto client = http_client::Client::make(std::move(client_options));
  if (!client) return fail(ErrorKind::invalid_argument, "MediaMTX " + client.error().message);
  return std::unique_ptr<PathSource>(
      std::make_unique<MediamtxPathSource>(std::move(options), std::move(*client)));
}

} // namespace camreg::mediamtx
