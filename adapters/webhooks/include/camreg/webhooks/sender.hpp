#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "camreg/result.hpp"
#include "camreg/webhooks.hpp"

// Standard Webhooks (https://www.standardwebhooks.com): signing, secrets, and a
// WebhookSender over camreg's outbound HTTP(S) client.
namespace camreg::webhooks {

// "v1,<base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body)>", the key being the
// bytes the secret's base64 (after an optional "whsec_") encodes. Fails with
// invalid_argument when the secret is not base64.
Result<std::string> sign(std::string_view secret, std::string_view msg_id, std::int64_t timestamp,
                         std::string_view body);

// "whsec_" + base64 of 32 bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the
// generator fails (it never should once seeded).
std::string new_secret();

// The webhook-id of an event: the same on every attempt.
std::string message_id(std::int64_t event_id);

struct SenderOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::string ca_file;    // an extra CA for https receivers (PEM)
  bool verify_tls = true; // false only for tests against self-signed receivers
  std::string user_agent = "camreg-webhooks";
};

// POSTs a delivery's payload with Content-Type application/json and the webhook-id,
// webhook-timestamp (the attempt's) and webhook-signature headers; a URL's userinfo
// becomes Basic authorization, never part of a message.
std::unique_ptr<WebhookSender> make_sender(SenderOptions options);

} // namespace camreg::webhooks
