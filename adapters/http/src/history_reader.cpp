#include "history_reader.hpp"

#include "camreg/clock.hpp"

namespace camreg::http::detail {

HistoryReader::HistoryReader(std::unique_ptr<DeviceRepository> repository, std::size_t max_pending)
    : repository_(std::move(repository)), thread_(max_pending) {}

void HistoryReader::read(const HistoryQuery& query, Callback callback) {
  auto shared = std::make_shared<Callback>(std::move(callback));
  const bool queued = thread_.post([this, query, shared] {
    auto intervals = repository_->presence_history(query);
    if (!intervals) return (*shared)(intervals.error());
    (*shared)(summarize_history(*intervals, query.from, query.to, SystemClock().now()));
  });
  if (!queued) (*shared)(fail(ErrorKind::busy, "too many history requests are waiting; try again"));
}

} // namespace camreg::http::detail
