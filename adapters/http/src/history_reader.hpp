#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "camreg/device_repository.hpp"
#include "camreg/history.hpp"

namespace camreg::http::detail {

// Reads presence history on a thread of its own, over a repository of its own, so a
// history request never holds up an io thread or the snapshot refreshes. At most
// max_pending requests wait; more are refused at once (busy).
class HistoryReader {
 public:
  // The histories of the query's devices, or why not.
  using Callback = std::function<void(Result<std::vector<DeviceHistory>>)>;

  explicit HistoryReader(std::unique_ptr<DeviceRepository> repository,
                         std::size_t max_pending = 64);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Calls back from the reader's thread, or at once with busy when too many wait.
  void read(const HistoryQuery& query, Callback callback);

 private:
  void loop();

  std::unique_ptr<DeviceRepository> repository_;
  std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<HistoryQuery, Callback>> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace camreg::http::detail
