#include "camreg/postgres/postgres.hpp"
#include "connection.hpp"

namespace camreg::postgres {

namespace {

class PostgresSyncTrigger final : public SyncTrigger {
 public:
  explicit PostgresSyncTrigger(Options options) : connection_(std::move(options)) {}

  Result<void> request_round(std::string_view path) override {
    return connection_.run<void>("trigger", [&](soci::session& sql) -> Result<void> {
      const std::string channel(trigger_channel);
      const std::string name(path);
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
