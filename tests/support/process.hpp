#pragma once

#include <sys/types.h>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace camreg::testing {

// A child process the test owns: started with argv and extra environment, its stdout
// (and stderr, merged) read line by line; killed when the object goes.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::vector<std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next output line, or nothing when the timeout passes or output ends.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Every line read so far, joined with '\n' (for failure messages).
  const std::string& output() const { return output_; }
  // Reads until a line contains text; returns that line.
  std::optional<std::string> wait_for(const std::string& text, std::chrono::milliseconds timeout);

  void signal(int sig) const;
  // The exit status (or 128 + signal), or nothing if still running at the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string pending_;
  std::string output_;
  std::optional<int> status_;
};

// Runs a command to completion; returns its exit status and output.
struct CommandResult {
  int status = -1;
  std::string output;
};
CommandResult run_command(std::vector<std::string> argv, std::vector<std::string> env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

} // namespace camreg::testing
