// tandemrun: starts N local ranks of a program with the Tandem rendezvous
// environment, forwards their output line by line behind a [rank] prefix, and
// takes the whole job down when one rank fails.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "bootstrap/root.h"
#include "bootstrap/socket.h"
#include "bootstrap/unique_id.h"
#include "child.h"
#include "options.h"
#include "output.h"
#include "util/crypto.h"

extern char** environ;

namespace tandemrun {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kKillGrace = std::chrono::seconds(3);   // SIGTERM → SIGKILL
constexpr auto kDrainGrace = std::chrono::seconds(1);  // output still held by descendants
constexpr size_t kReadChunk = 64 * 1024;

// The signals tandemrun handles through its signalfd; blocked in every thread.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  return set;
}

void set_var(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  std::string entry = name + "=" + value;
  for (std::string& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      e = std::move(entry);
      return;
    }
  }
  env.push_back(std::move(entry));
}

// 128 random bits as hex: TANDEM_JOB_SECRET for the ranks.
std::string random_secret() {
  std::array<std::byte, 16> bytes{};
  tdm::crypto::random_bytes(bytes);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (std::byte b : bytes) {
    hex.push_back(digits[std::to_integer<int>(b) >> 4]);
    hex.push_back(digits[std::to_integer<int>(b) & 15]);
  }
  return hex;
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds;
  return out.str();
}

// Fds 0-2 must be open, or pipes created later could land on them.
void ensure_std_fds() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) ::open("/dev/null", O_RDWR);
}

// Each rank needs two pipe fds here for its whole life.
void raise_fd_limit(int nprocs) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t need = static_cast<rlim_t>(nprocs) * 2 + 64;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= need) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? need : std::min(need, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

struct Stream {
  int rank;
  tdm::Fd fd;
  LineForwarder forwarder;
};

class Launcher {
 public:
  Launcher(const Options& options, std::string unique_id, int signal_fd)
      : options_(options), unique_id_(std::move(unique_id)), signal_fd_(signal_fd) {}

  // Runs the job; returns tandemrun's exit code.
  int run();

 private:
  void launch_all();
  std::vector<std::string> environment_for(int rank) const;
  void say(const std::string& line) { err_.write("tandemrun: " + line + "\n"); }
  int live_ranks() const;
  bool output_open(size_t rank) const { return open_streams_[rank] > 0; }
  void signal_ranks(int sig);
  void begin_terminate(int exit_code);
  void reap();
  void handle_signals();
  void handle_timers();
  // Reads once from the stream; false when nothing came (for now or for good).
  bool read_stream(Stream& stream);
  void drain_rank(size_t rank);
  void close_stream(Stream& stream);
  std::optional<Clock::time_point> next_deadline() const;

  const Options& options_;
  std::string unique_id_;
  std::string job_secret_ = random_secret();
  int signal_fd_;
  Sink out_{STDOUT_FILENO};
  Sink err_{STDERR_FILENO};
  std::vector<Child> children_;  // index = rank
  std::vector<int> open_streams_;
  std::vector<std::unique_ptr<Stream>> streams_;

  int exit_code_ = 0;
  bool terminating_ = false;
  std::optional<Clock::time_point> job_deadline_;
  std::optional<Clock::time_point> kill_deadline_;
  std::optional<Clock::time_point> drain_deadline_;
};

std::vector<std::string> Launcher::environment_for(int rank) const {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& [name, value] : options_.exports)
    if (value) set_var(env, name, *value);
  const std::string n = std::to_string(options_.nprocs);
  const std::string r = std::to_string(rank);
  set_var(env, "TANDEM_UNIQUE_ID", unique_id_);
  // For ranks that bootstrap torchrun-style (their own launcher inside, or
  // MASTER_ADDR set): the key their rendezvous derives (launcher_env.cc).
  if (!std::getenv("TANDEM_JOB_SECRET")) set_var(env, "TANDEM_JOB_SECRET", job_secret_);
  set_var(env, "TANDEM_RANK", r);
  set_var(env, "TANDEM_WORLD_SIZE", n);
  set_var(env, "TANDEM_LOCAL_RANK", r);
  set_var(env, "TANDEM_LOCAL_SIZE", n);
  set_var(env, "RANK", r);
  set_var(env, "WORLD_SIZE", n);
  set_var(env, "LOCAL_RANK", r);
  set_var(env, "LOCAL_WORLD_SIZE", n);
  return env;
}

void Launcher::launch_all() {
  const bool stdin_is_terminal = ::isatty(STDIN_FILENO) != 0;
  for (int rank = 0; rank < options_.nprocs && !terminating_; ++rank) {
    LaunchSpec spec;
    spec.argv = options_.command;
    spec.env = environment_for(rank);
    // Rank 0 reads tandemrun's stdin unless that is a terminal (ranks run in their own
    // process groups and would be stopped by SIGTTIN).
    spec.inherit_stdin = rank == 0 && !stdin_is_terminal;
    Child child;
    try {
      child = Child::launch(spec);
    } catch (const std::system_error& e) {
      say("cannot start rank " + std::to_string(rank) + ": " + e.what());
      begin_terminate(1);
      break;
    }
    const int exec_error = child.exec_error();
    std::string prefix;
    if (options_.prefix) prefix.append("[").append(std::to_string(rank)).append("] ");
    streams_.push_back(
        std::make_unique<Stream>(Stream{rank, child.take_stdout(), LineForwarder(out_, prefix)}));
    streams_.push_back(
        std::make_unique<Stream>(Stream{rank, child.take_stderr(), LineForwarder(err_, prefix)}));
    children_.push_back(std::move(child));
    open_streams_.push_back(2);
    if (exec_error != 0) {
      // The child exits 127; reaping it reports the failure and stops the others.
      say("cannot execute '" + options_.command[0] + "': " + std::strerror(exec_error));
      break;
    }
    handle_signals();  // a Ctrl-C during a long launch stops it
  }
}

int Launcher::live_ranks() const {
  return static_cast<int>(std::count_if(children_.begin(), children_.end(),
                                        [](const Child& c) { return c.running(); }));
}

void Launcher::signal_ranks(int sig) {
  for (size_t rank = 0; rank < children_.size(); ++rank)
    if (children_[rank].running() || output_open(rank)) children_[rank].signal_group(sig);
}

void Launcher::begin_terminate(int exit_code) {
  terminating_ = true;
  exit_code_ = exit_code;
  int live = live_ranks();
  if (live > 0)
    say("terminating " + std::to_string(live) + " remaining rank" + (live == 1 ? "" : "s"));
  signal_ranks(SIGTERM);
  kill_deadline_ = Clock::now() + kKillGrace;
}

void Launcher::reap() {
  for (size_t rank = 0; rank < children_.size(); ++rank) {
    Child& child = children_[rank];
    if (!child.try_reap()) continue;
    int status = child.wait_status();
    if (status == 0 || terminating_) continue;
    drain_rank(rank);  // its last words come before the report of its end
    say("rank " + std::to_string(rank) + " " + describe_status(status));
    begin_terminate(exit_code_of(status));
  }
}

void Launcher::handle_signals() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) continue;  // reap() looks at every child anyway
    if (!terminating_) {
      say("got " + signal_name(sig) + ", forwarding it to the ranks");
      terminating_ = true;
      exit_code_ = 128 + sig;
      signal_ranks(sig);
    } else {
      say("got " + signal_name(sig) + " again, killing the ranks");
      signal_ranks(SIGKILL);
      kill_deadline_.reset();
    }
  }
}

void Launcher::handle_timers() {
  const auto now = Clock::now();
  if (job_deadline_ && now >= *job_deadline_) {
    job_deadline_.reset();
    if (!terminating_) {
      say("timed out after " + seconds_text(options_.timeout_seconds) + " s");
      begin_terminate(124);
    } else if (!kill_deadline_) {
      kill_deadline_ = now;  // interrupted ranks that ignore the signal: stop waiting
    }
  }
  if (kill_deadline_ && now >= *kill_deadline_) {
    kill_deadline_.reset();
    int live = live_ranks();
    if (live > 0)
      say(std::to_string(live) + " rank" + (live == 1 ? "" : "s") +
          " still running after SIGTERM, sending SIGKILL");
    signal_ranks(SIGKILL);
  }
}

void Launcher::close_stream(Stream& stream) {
  stream.forwarder.finish();
  stream.fd.reset();
  --open_streams_[static_cast<size_t>(stream.rank)];
}

void Launcher::drain_rank(size_t rank) {
  // What the rank wrote before exiting is in the pipes; descendants may add more, so
  // the reads are bounded.
  for (size_t i = 2 * rank; i < 2 * rank + 2 && i < streams_.size(); ++i)
    for (int reads = 0; reads < 16 && streams_[i]->fd.valid(); ++reads)
      if (!read_stream(*streams_[i])) break;
}

bool Launcher::read_stream(Stream& stream) {
  static char buffer[kReadChunk];
  ssize_t n = ::read(stream.fd.get(), buffer, sizeof(buffer));
  if (n > 0) {
    stream.forwarder.feed(std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) close_stream(stream);
  return false;
}

std::optional<Clock::time_point> Launcher::next_deadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& d : {job_deadline_, kill_deadline_, drain_deadline_})
    if (d && (!next || *d < *next)) next = d;
  return next;
}

int Launcher::run() {
  if (options_.timeout_seconds > 0)
    job_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.timeout_seconds));
  launch_all();

  std::vector<pollfd> fds;
  std::vector<Stream*> polled;
  while (true) {
    reap();
    handle_timers();
    bool any_open =
        std::any_of(open_streams_.begin(), open_streams_.end(), [](int open) { return open > 0; });
    if (live_ranks() == 0) {
      // Every rank is gone; descendants may still hold the pipes open for a while.
      if (!drain_deadline_) drain_deadline_ = Clock::now() + kDrainGrace;
      if (!any_open || Clock::now() >= *drain_deadline_) break;
    }

    fds.assign(1, pollfd{signal_fd_, POLLIN, 0});
    polled.clear();
    for (auto& stream : streams_) {
      if (!stream->fd.valid()) continue;
      fds.push_back(pollfd{stream->fd.get(), POLLIN, 0});
      polled.push_back(stream.get());
    }
    int timeout_ms = -1;
    if (auto next = next_deadline()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    }
    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      say(std::string("poll: ") + std::strerror(errno));
      begin_terminate(1);
      break;
    }
    if (ready <= 0) continue;
    if (fds[0].revents != 0) handle_signals();
    for (size_t i = 0; i < polled.size(); ++i)
      if (fds[i + 1].revents != 0) read_stream(*polled[i]);
  }

  // Whatever is still buffered in the pipes comes out before we go.
  for (auto& stream : streams_) {
    for (int reads = 0; reads < 16 && stream->fd.valid(); ++reads)
      if (!read_stream(*stream)) break;
    if (!stream->fd.valid()) continue;
    // Descendants of the rank still hold the pipe: they get no more of our attention,
    // and after a failure they go the way of the rank.
    if (terminating_) children_[static_cast<size_t>(stream->rank)].signal_group(SIGKILL);
    close_stream(*stream);
  }
  return exit_code_;
}

int main_impl(int argc, char** argv) {
  ParseResult parsed = parse_options(argc, argv);
  if (parsed.help) {
    std::printf(
        "%s\n\n"
        "Starts N local ranks of cmd with TANDEM_UNIQUE_ID, TANDEM_RANK, TANDEM_WORLD_SIZE,\n"
        "TANDEM_LOCAL_RANK, TANDEM_LOCAL_SIZE (and RANK, WORLD_SIZE, LOCAL_RANK,\n"
        "LOCAL_WORLD_SIZE) set, and prefixes their output lines with [rank].\n\n"
        "  -n, -np N            number of ranks\n"
        "  --timeout SECONDS    kill the job after SECONDS and exit 124\n"
        "  --no-prefix          pass the ranks' output through unchanged\n"
        "  -x VAR=VALUE         set VAR in the ranks' environment (-x VAR: keep it)\n",
        kUsage);
    return 0;
  }
  if (!parsed.options) {
    std::fprintf(stderr, "tandemrun: %s\n%s\n", parsed.error.c_str(), kUsage);
    return 2;
  }
  const Options& options = *parsed.options;

  ensure_std_fds();
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill us before the ranks
  raise_fd_limit(options.nprocs);
  // Blocked before the rendezvous thread starts, so every thread has them blocked and
  // they all arrive through the signalfd.
  sigset_t handled = handled_signals();
  ::pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  tdm::Fd signal_fd(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd.valid()) {
    std::fprintf(stderr, "tandemrun: signalfd: %s\n", std::strerror(errno));
    return 1;
  }

  std::unique_ptr<tdm::bootstrap::RootServer> root;
  try {
    tdm::bootstrap::SocketAddress loopback = tdm::net::loopback_address();
    root = tdm::bootstrap::RootServer::start(-1, &loopback);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tandemrun: cannot start the rendezvous server: %s\n", e.what());
    return 1;
  }
  Launcher launcher(options, tdm::bootstrap::to_hex(root->id()), signal_fd.get());
  return launcher.run();
}

}  // namespace
}  // namespace tandemrun

int main(int argc, char** argv) { return tandemrun::main_impl(argc, argv); }
