#pragma once

#include "camreg/time.hpp"

namespace camreg {

// Port: the current time. Tests drive the sync rules with a fake.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// std::chrono::system_clock, truncated to microseconds. Thread-safe.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

} // namespace camreg
