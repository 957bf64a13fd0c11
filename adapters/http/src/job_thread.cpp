#include "job_thread.hpp"

namespace camreg::http::detail {

JobThread::JobThread(std::size_t max_pending)
    : max_pending_(max_pending), thread_([this] { loop(); }) {}

JobThread::~JobThread() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool JobThread::post(std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    if (pending_.size() >= max_pending_) return false;
    pending_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void JobThread::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    job();
  }
}

} // namespace camreg::http::detail
