#include "camreg/webhooks/sender.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "camreg/http_client/http_client.hpp"

namespace camreg::webhooks {

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t chunk = (std::uint32_t{data[i]} << 16) |
                                (i + 1 < size ? std::uint32_t{data[i + 1]} << 8 : 0) |
                                (i + 2 < size ? std::uint32_t{data[i + 2]} : 0);
    out += alphabet[(chunk >> 18) & 63];
    out += alphabet[(chunk >> 12) & 63];
    out += i + 1 < size ? alphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < size ? alphabet[chunk & 63] : '=';
  }
  return out;
}

// Standard base64, padding optional; nothing when text is not base64.
std::optional<std::string> unbase64(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const auto value = alphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  if (count >= 6) return std::nullopt; // one character too many for a whole byte
  return out;
}

class HttpWebhookSender final : public WebhookSender {
 public:
  explicit HttpWebhookSender(SenderOptions options) : options_(std::move(options)) {}

  Result<WebhookAnswer> send(const ClaimedDelivery& delivery,
                             std::chrono::steady_clock::time_point deadline) override {
    auto client = client_for(delivery.url);
    if (!client) return client.error();
    const auto now = std::chrono::system_clock::now();
    const auto timestamp =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto id = message_id(delivery.event_id);
    auto signature = sign(delivery.secret, id, timestamp, delivery.payload);
    if (!signature) return signature.error();
    http_client::Request request;
    request.method = "POST";
    request.target = client->url().path.empty() ? "/" : client->url().path;
    request.headers = {{"Content-Type", "application/json"},
                       {"webhook-id", id},
                       {"webhook-timestamp", std::to_string(timestamp)},
                       {"webhook-signature", *signature}};
    if (client->url().has_userinfo()) {
      request.headers.emplace_back(
          "Authorization",
          http_client::basic_authorization(client->url().user, client->url().password));
    }
    request.body = delivery.payload;
    auto response = client->send(request, deadline);
    if (!response) return response.error();
    WebhookAnswer answer;
    answer.status = response->status;
    answer.retry_after = std::string(response->header("Retry-After"));
    if (response->status < 200 || response->status >= 300)
      answer.body_excerpt = http_client::excerpt(response->body, 200);
    return answer;
  }

 private:
  // One client per URL (they hold the TLS context), made on first use.
  Result<http_client::Client> client_for(const std::string& url) {
    const std::lock_guard lock(mutex_);
    if (const auto it = clients_.find(url); it != clients_.end()) return it->second;
    http_client::Options options;
    options.url = url;
    options.connect_timeout = options_.connect_timeout;
    options.max_response_bytes = 64 * 1024; // a receiver's answer is not read for more
    options.ca_file = options_.ca_file;
    options.verify_tls = options_.verify_tls;
    options.user_agent = options_.user_agent;
    auto made = http_client::Client::make(options);
    if (!made) return made.error();
    if (clients_.size() >= 1024) clients_.clear(); // endpoints come and go
    clients_.emplace(url, *made);
    return *made;
  }

  SenderOptions options_;
  std::mutex mutex_;
  std::map<std::string, http_client::Client> clients_;
};

} // namespace

Result<std::string> sign(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                         std::string_view body) {
  if (secret.starts_with("whsec_")) secret.remove_prefix(6);
  const auto key = unbase64(secret);
  if (!key || key->empty()) {
    return fail(ErrorKind::invalid_argument, "webhook secret: not whsec_ followed by base64");
  }
  std::string message;
  message.reserve(msg_id.size() + body.size() + 24);
  message.append(msg_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (!HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
            reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
            &size)) {
    return fail(ErrorKind::invalid_argument, "webhook signature: HMAC-SHA256 failed");
  }
  return "v1," + base64(mac.data(), size);
}

std::string new_secret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("the random generator failed to make a webhook secret");
  return "whsec_" + base64(bytes.data(), bytes.size());
}

std::string message_id(std::int64_t event_id) {
  return "msg_" + std::to_string(event_id);
}

std::unique_ptr<WebhookSender> make_sender(SenderOptions options) {
  return std::make_unique<HttpWebhookSender>(std::move(options));
}

} // namespace camreg::webhooks
