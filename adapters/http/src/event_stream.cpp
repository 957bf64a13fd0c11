#include "event_stream.hpp"

#include "metrics.hpp"

namespace camreg::http::detail {

EventStream::EventStream(HttpMetrics* metrics) : metrics_(metrics) {
  if (metrics_) metrics_->sse_clients(+1);
}

EventStream::~EventStream() {
  cancel();
  if (metrics_) metrics_->sse_clients(-1);
}

void EventStream::fire() {
  std::function<void()> wake;
  {
    const std::lock_guard lock(mutex_);
    if (!wake_) {
      fired_ = true;
      return;
    }
    wake = wake_;
  }
  wake();
}

void EventStream::on_wake(std::function<void()> wake) {
  bool fired = false;
  {
    const std::lock_guard lock(mutex_);
    wake_ = wake;
    fired = std::exchange(fired_, false);
  }
  if (fired) wake();
}

void EventStream::attach(std::shared_ptr<EventHub::Subscription> subscription) {
  const std::lock_guard lock(mutex_);
  subscription_ = std::move(subscription);
}

EventHub::Subscription::Batch EventStream::take() {
  std::shared_ptr<EventHub::Subscription> subscription;
  {
    const std::lock_guard lock(mutex_);
    subscription = subscription_;
  }
  if (!subscription) return {{}, EventHub::End::stopped};
  return subscription->take();
}

EventHub::End EventStream::ended() {
  const std::lock_guard lock(mutex_);
  return subscription_ ? subscription_->ended() : EventHub::End::stopped;
}

void EventStream::cancel() {
  std::shared_ptr<EventHub::Subscription> subscription;
  {
    const std::lock_guard lock(mutex_);
    subscription = std::move(subscription_);
    wake_ = nullptr;
  }
  if (subscription) subscription->cancel();
}

void append_sse(std::string& out, const Event& event) {
  out += "id: ";
  out += std::to_string(event.id);
  out += "\nevent: ";
  out += to_string(event.type);
  out += '\n';
  // The stored payload is one line; a line break would end the data field early.
  std::string_view rest = event.payload;
  for (;;) {
    const auto eol = rest.find_first_of("\r\n");
    out += "data: ";
    out += rest.substr(0, eol);
    out += '\n';
    if (eol == std::string_view::npos) break;
    rest.remove_prefix(eol + (rest.substr(eol, 2) == "\r\n" ? 2 : 1));
  }
  out += '\n';
}

} // namespace camreg::http::detail
