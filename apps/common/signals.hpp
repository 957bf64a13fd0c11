#pragma once

#include <chrono>
#include <functional>

namespace camreg::app {

// Blocks SIGTERM and SIGINT in every thread and waits for them on a thread of its
// own. On the first, calls on_stop; if the process has not exited grace after it, logs
// through on_abandon and exits 0 (an open transaction dies with the connection, so
// nothing half-written remains). Call before starting other threads.
void handle_stop_signals(std::function<void()> on_stop, std::function<void()> on_abandon,
                         std::chrono::milliseconds grace);

} // namespace camreg::app
