#include "common/signals.hpp"

#include <pthread.h>
#include <csignal>
#include <cstdlib>
#include <thread>

namespace camreg::app {

void handle_stop_signals(std::function<void()> on_stop, std::function<void()> on_abandon,
                         std::chrono::milliseconds grace) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, on_stop = std::move(on_stop), on_abandon = std::move(on_abandon), grace] {
    int sig = 0;
    sigwait(&set, &sig);
    on_stop();
    std::this_thread::sleep_for(grace);
    on_abandon();
    std::_Exit(0);
  }).detach();
}

} // namespace camreg::app
