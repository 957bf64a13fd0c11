#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace camreg::http::detail {

// Runs blocking jobs (database calls) one at a time on a thread of its own, so they never
// hold up an io thread. At most max_pending jobs wait; post() refuses more.
class JobThread {
 public:
  explicit JobThread(std::size_t max_pending);
  // Joins the thread; jobs still waiting are dropped, as the server is going.
  ~JobThread();
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  // Queues job; false (job not run) when max_pending jobs already wait. Thread-safe.
  bool post(std::function<void()> job);

 private:
  void loop();

  std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace camreg::http::detail
