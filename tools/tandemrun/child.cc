#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <system_error>
#include <utility>

namespace tandemrun {

namespace {

struct Pipe {
  tdm::Fd read;
  tdm::Fd write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  return Pipe{tdm::Fd(fds[0]), tdm::Fd(fds[1])};
}

void set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// The paths execvp would try for `command` with this PATH, in order.
std::vector<std::string> exec_candidates(const std::string& command,
                                         const std::vector<std::string>& env) {
  if (command.find('/') != std::string::npos) return {command};
  std::string_view path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& entry : env)
    if (entry.starts_with("PATH=")) path = std::string_view(entry).substr(5);
  std::vector<std::string> candidates;
  while (true) {
    size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    candidates.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + command);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return candidates;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Puts `fd` at `target` without the close-on-exec flag.
void move_fd(int fd, int target) {
  if (fd == target)
    ::fcntl(fd, F_SETFD, 0);
  else
    ::dup2(fd, target);
}

// Runs in the forked child of a multi-threaded parent: async-signal-safe calls only,
// everything else was prepared before the fork.
[[noreturn]] void exec_child(pid_t parent, int stdin_fd, int stdout_fd, int stderr_fd,
                             int status_fd, char* const* candidates, size_t ncandidates,
                             char** argv, char** sh_argv, char* const* envp) {
  ::setpgid(0, 0);
  // Die with tandemrun even if it is killed with SIGKILL.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  if (stdin_fd >= 0) move_fd(stdin_fd, STDIN_FILENO);
  move_fd(stdout_fd, STDOUT_FILENO);
  move_fd(stderr_fd, STDERR_FILENO);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  int error = ENOENT;
  bool denied = false;
  for (size_t i = 0; i < ncandidates; ++i) {
    ::execve(candidates[i], argv, envp);
    error = errno;
    if (error == ENOEXEC) {  // a script without #!: run it with the shell, like execvp
      sh_argv[1] = candidates[i];
      ::execve(sh_argv[0], sh_argv, envp);
      error = errno;
    }
    if (error == EACCES) denied = true;
    if (error != EACCES && error != ENOENT && error != ENOTDIR && error != ESTALE &&
        error != ENODEV && error != ETIMEDOUT)
      break;
  }
  if (denied && (error == ENOENT || error == ENOTDIR)) error = EACCES;
  ssize_t ignored = ::write(status_fd, &error, sizeof(error));
  (void)ignored;
  ::_exit(127);
}

}  // namespace

Child Child::launch(const LaunchSpec& spec) {
  std::vector<std::string> argv = spec.argv;
  std::vector<std::string> env = spec.env;
  std::vector<std::string> candidates = exec_candidates(argv.at(0), env);
  std::vector<std::string> sh_args = {"/bin/sh", ""};
  sh_args.insert(sh_args.end(), argv.begin() + 1, argv.end());
  std::vector<char*> c_argv = c_strings(argv);
  std::vector<char*> c_env = c_strings(env);
  std::vector<char*> c_candidates = c_strings(candidates);
  std::vector<char*> c_sh_argv = c_strings(sh_args);

  tdm::Fd devnull;
  if (!spec.inherit_stdin) {
    devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull.valid()) throw std::system_error(errno, std::generic_category(), "open /dev/null");
  }
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  Pipe status = make_pipe();

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0)
    exec_child(parent, devnull.get(), out.write.get(), err.write.get(), status.write.get(),
               c_candidates.data(), candidates.size(), c_argv.data(), c_sh_argv.data(),
               c_env.data());

  Child child;
  child.pid_ = pid;
  ::setpgid(pid, pid);  // also here, so the group exists before we might signal it
  out.write.reset();
  err.write.reset();
  status.write.reset();
  // The status pipe closes on a successful exec, or carries the errno of a failed one.
  int error = 0;
  ssize_t n;
  do {
    n = ::read(status.read.get(), &error, sizeof(error));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(error))) child.exec_error_ = error;
  set_nonblocking(out.read.get());
  set_nonblocking(err.read.get());
  child.stdout_ = std::move(out.read);
  child.stderr_ = std::move(err.read);
  return child;
}

Child::~Child() { kill_and_reap(); }

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(other.reaped_),
      status_(other.status_),
      exec_error_(other.exec_error_),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    reaped_ = other.reaped_;
    status_ = other.status_;
    exec_error_ = other.exec_error_;
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
  }
  return *this;
}

void Child::kill_and_reap() {
  if (!running()) return;
  signal_group(SIGKILL);
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

bool Child::try_reap() {
  if (!running()) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  // r < 0 (ECHILD) cannot happen for our own unreaped child; treat it as gone.
  status_ = r == pid_ ? status : 0;
  reaped_ = true;
  return true;
}

void Child::signal_group(int sig) const {
  if (pid_ <= 0) return;
  if (::kill(-pid_, sig) != 0 && !reaped_) ::kill(pid_, sig);
}

std::string signal_name(int sig) {
  switch (sig) {
#define TANDEMRUN_SIGNAL(name) \
  case name:                   \
    return #name;
    TANDEMRUN_SIGNAL(SIGHUP)
    TANDEMRUN_SIGNAL(SIGINT)
    TANDEMRUN_SIGNAL(SIGQUIT)
    TANDEMRUN_SIGNAL(SIGILL)
    TANDEMRUN_SIGNAL(SIGTRAP)
    TANDEMRUN_SIGNAL(SIGABRT)
    TANDEMRUN_SIGNAL(SIGBUS)
    TANDEMRUN_SIGNAL(SIGFPE)
    TANDEMRUN_SIGNAL(SIGKILL)
    TANDEMRUN_SIGNAL(SIGUSR1)
    TANDEMRUN_SIGNAL(SIGSEGV)
    TANDEMRUN_SIGNAL(SIGUSR2)
    TANDEMRUN_SIGNAL(SIGPIPE)
    TANDEMRUN_SIGNAL(SIGALRM)
    TANDEMRUN_SIGNAL(SIGTERM)
    TANDEMRUN_SIGNAL(SIGCHLD)
    TANDEMRUN_SIGNAL(SIGCONT)
    TANDEMRUN_SIGNAL(SIGSTOP)
    TANDEMRUN_SIGNAL(SIGTSTP)
    TANDEMRUN_SIGNAL(SIGTTIN)
    TANDEMRUN_SIGNAL(SIGTTOU)
    TANDEMRUN_SIGNAL(SIGURG)
    TANDEMRUN_SIGNAL(SIGXCPU)
    TANDEMRUN_SIGNAL(SIGXFSZ)
    TANDEMRUN_SIGNAL(SIGVTALRM)
    TANDEMRUN_SIGNAL(SIGPROF)
    TANDEMRUN_SIGNAL(SIGWINCH)
    TANDEMRUN_SIGNAL(SIGSYS)
#undef TANDEMRUN_SIGNAL
    default:
      return "signal " + std::to_string(sig);
  }
}

std::string describe_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    std::string text = "killed by signal " + signal_name(WTERMSIG(wait_status));
    if (WCOREDUMP(wait_status)) text += " (core dumped)";
    return text;
  }
  return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
}

int exit_code_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

}  // namespace tandemrun
