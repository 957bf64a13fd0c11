#include "database_reader.hpp"

#include "camreg/clock.hpp"

namespace camreg::http::detail {

DatabaseReader::DatabaseReader(std::unique_ptr<DeviceRepository> repository,
                               std::size_t max_pending)
    : repository_(std::move(repository)), thread_(max_pending) {}

void DatabaseReader::read(const HistoryQuery& query, Callback callback) {
  auto shared = std::make_shared<Callback>(std::move(callback));
  const bool queued = thread_.post([this, query, shared] {
    auto intervals = repository_->presence_history(query);
    if (!intervals) return (*shared)(intervals.error());
    (*shared)(summarize_history(*intervals, query.from, query.to, SystemClock().now()));
  });
  if (!queued) (*shared)(fail(ErrorKind::busy, "too many history requests are waiting; try again"));
}

void DatabaseReader::read_page(const DeviceQuery& query, const DevicePage& page,
                               PageCallback callback) {
  auto shared = std::make_shared<PageCallback>(std::move(callback));
  const bool queued = thread_.post(
      [this, query, page, shared] { (*shared)(repository_->list_device_page(query, page)); });
  if (!queued) (*shared)(fail(ErrorKind::busy, "too many page requests are waiting; try again"));
}

} // namespace camreg::http::detail
