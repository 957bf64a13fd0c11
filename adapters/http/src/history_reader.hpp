#pragma once

#include <functional>
#include <memory>

#include "camreg/device_repository.hpp"
#include "camreg/history.hpp"
#include "job_thread.hpp"

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

  // Calls back from the reader's thread, or at once with busy when too many wait.
  void read(const HistoryQuery& query, Callback callback);

 private:
  std::unique_ptr<DeviceRepository> repository_;
  JobThread thread_; // after repository_: joined before it goes
};

} // namespace camreg::http::detail
