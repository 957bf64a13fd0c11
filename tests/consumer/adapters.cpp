// Links every adapter from the installed package and uses each once.
#include <camreg/http/metrics_listener.hpp>
#include <camreg/http/server.hpp>
#include <camreg/mediamtx/mediamtx.hpp>
#include <camreg/postgres/postgres.hpp>
#include <camreg/webhooks/sender.hpp>

int main() {
  const bool redacted =
      camreg::postgres::redact_database_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db";
  camreg::mediamtx::Options options;
  options.api_url = "http://127.0.0.1:9997";
  const auto source = camreg::mediamtx::make_path_source(options);
  camreg::http::Options server;
  const camreg::http::SyncMetrics metrics;
  const bool counted = metrics.render().find("camreg_sync_rounds_total") != std::string::npos;
  const auto signed_ = camreg::webhooks::sign(camreg::webhooks::new_secret(), "msg_1", 1, "{}");
  return redacted && source && !camreg::postgres::migrations().empty() &&
                 server.listen == "127.0.0.1:8001" && counted && signed_
             ? 0
             : 1;
}
