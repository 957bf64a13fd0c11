#include "camreg/postgres/postgres.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

class PostgresSyncTrigger final : public SyncTrigger {
 public:
  explicit PostgresSyncTrigger(Options options) : connection_(std::move(options)) {}

  // The payload is "<schema> <path>", or "<schema> <site>@<path>" for one site's workers
  // ('@' is in no site or MediaMTX path name).
  Result<void> request_round(std::string_view path, std::string_view site) override {
    return connection_.run<void>("trigger", [&](soci::session& sql) -> Result<void> {
      const std::string channel(trigger_channel);
      const std::string name =
          site.empty() ? std::string(path) : std::string(site) + '@' + std::string(path);
      // current_schema(): the schema whose workers listen is the one this URL selects.
      sql << "SELECT pg_notify(:channel, current_schema() || ' ' || :path)", soci::use(channel),
          soci::use(name);
      return {};
    });
  }

  Result<void> connect() override {
    return connection_.run<void>("trigger", [](soci::session&) -> Result<void> { return {}; });
  }

 private:
  detail::Connection connection_;
};

} // namespace

std::unique_ptr<SyncTrigger> make_sync_trigger(Options options) {
  return std::make_unique<PostgresSyncTrigger>(std::move(options));
}

} // namespace camreg::postgres
