#pragma once

#include <functional>
#include <memory>

#include "camreg/device_repository.hpp"
#include "camreg/history.hpp"
#include "job_thread.hpp"

namespace camreg::http::detail {

// Reads what is not served from snapshots (presence history, pages of devices) on a
// thread of its own, over a repository of its own, so such a request never holds up an
// io thread or the snapshot refreshes. At most max_pending requests wait; more are
// refused at once (busy).
class DatabaseReader {
 public:
  // The histories of the query's devices, or why not.
  using Callback = std::function<void(Result<std::vector<DeviceHistory>>)>;
  // A page of devices, or why not.
  using PageCallback = std::function<void(Result<std::vector<Device>>)>;

  explicit DatabaseReader(std::unique_ptr<DeviceRepository> repository,
                          std::size_t max_pending = 64);

  // Calls back from the reader's thread, or at once with busy when too many wait.
  void read(const HistoryQuery& query, Callback callback);
  // Likewise, with the repository's list_device_page.
  void read_page(const DeviceQuery& query, const DevicePage& page, PageCallback callback);

 private:
  std::unique_ptr<DeviceRepository> repository_;
  JobThread thread_; // after repository_: joined before it goes
};

} // namespace camreg::http::detail
