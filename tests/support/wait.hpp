#pragma once

#include <chrono>
#include <thread>

namespace camreg::testing {

// Checks condition every poll until it holds or timeout has passed; true when it held.
// For tests that wait for something to happen (a row, a request, a log line) instead of
// sleeping and hoping it did.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

} // namespace camreg::testing
