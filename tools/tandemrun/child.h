// One launched rank: a process in its own process group whose stdout and
// stderr come back through pipes. The destructor kills and reaps a child that
// is still running, so no rank outlives tandemrun by accident.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "bootstrap/socket.h"  // tdm::Fd

namespace tandemrun {

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in the child's PATH like execvp
  std::vector<std::string> env;   // the child's whole environment, NAME=value
  bool inherit_stdin = false;     // else stdin is /dev/null
};

class Child {
 public:
  // Forks and execs. Throws std::system_error when the pipes or the fork fail. When
  // the exec fails the child exits 127 and exec_error() holds its errno.
  static Child launch(const LaunchSpec& spec);

  Child() = default;
  ~Child();
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  int exec_error() const { return exec_error_; }
  // Reaps the child if it has exited (never blocks); true when this call reaped it.
  bool try_reap();
  int wait_status() const { return status_; }  // valid once reaped

  // Signals the child's process group (its descendants too); also after the child
  // itself is gone, for descendants that still hold its output pipes.
  void signal_group(int sig) const;

  // The read ends of the child's stdout and stderr pipes (non-blocking).
  tdm::Fd take_stdout() { return std::move(stdout_); }
  tdm::Fd take_stderr() { return std::move(stderr_); }

 private:
  void kill_and_reap();

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  int exec_error_ = 0;
  tdm::Fd stdout_;
  tdm::Fd stderr_;
};

// "exited with status 3", "killed by signal SIGSEGV (core dumped)".
std::string describe_status(int wait_status);
// The shell-style code for a wait status: the exit status, or 128 + signal.
int exit_code_of(int wait_status);
// "SIGTERM" for SIGTERM, "signal 42" for one without a name here.
std::string signal_name(int sig);

}  // namespace tandemrun
