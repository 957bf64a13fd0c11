#include "history_reader.hpp"

#include "camreg/clock.hpp"

namespace camreg::http::detail {

HistoryReader::HistoryReader(std::unique_ptr<DeviceRepository> repository, std::size_t max_pending)
    : repository_(std::move(repository)), max_pending_(max_pending), thread_([this] { loop(); }) {}

HistoryReader::~HistoryReader() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HistoryReader::read(const HistoryQuery& query, Callback callback) {
  {
    const std::lock_guard lock(mutex_);
    if (pending_.size() < max_pending_) {
      pending_.emplace_back(query, std::move(callback));
      cv_.notify_one();
      return;
    }
  }
  callback(fail(ErrorKind::busy, "too many history requests are waiting; try again"));
}

void HistoryReader::loop() {
  for (;;) {
    std::pair<HistoryQuery, Callback> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return; // waiting callbacks are dropped, as the server is going
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    const auto& [query, callback] = job;
    auto intervals = repository_->presence_history(query);
    if (!intervals) {
      callback(intervals.error());
      continue;
    }
    callback(summarize_history(*intervals, query.from, query.to, SystemClock().now()));
  }
}

} // namespace camreg::http::detail
