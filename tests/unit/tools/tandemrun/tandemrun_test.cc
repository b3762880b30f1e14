// Runs the tandemrun binary on small shell jobs and checks the environment it
// gives the ranks, how it forwards their output, and how it ends a job.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "bootstrap/unique_id.h"

extern char** environ;

namespace {

#ifndef TANDEMRUN_PATH
#error "TANDEMRUN_PATH must name the tandemrun binary"
#endif

using Clock = std::chrono::steady_clock;

// An unlinked temporary file that collects one output stream of tandemrun.
class Capture {
 public:
  Capture() {
    char name[] = "/tmp/tandemrun_test.XXXXXX";
    fd_ = ::mkstemp(name);
    if (fd_ >= 0) ::unlink(name);
  }
  ~Capture() {
    if (fd_ >= 0) ::close(fd_);
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  int fd() const { return fd_; }
  std::string contents() const {
    std::string text;
    char buffer[65536];
    off_t offset = 0;
    ssize_t n;
    while ((n = ::pread(fd_, buffer, sizeof(buffer), offset)) > 0) {
      text.append(buffer, static_cast<size_t>(n));
      offset += n;
    }
    return text;
  }

 private:
  int fd_ = -1;
};

struct Outcome {
  int code = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
  double seconds = 0;
};

// One tandemrun process started with `args`, stdin from /dev/null.
class Job {
 public:
  explicit Job(const std::vector<std::string>& args) : start_(Clock::now()) {
    std::vector<std::string> argv = {TANDEMRUN_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_argv;
    for (std::string& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_.fd(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_.fd(), 2);
    int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, c_argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }
  ~Job() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  std::string out_so_far() const { return out_.contents(); }

  Outcome wait() {
    Outcome outcome;
    int status = 0;
    if (pid_ <= 0 || ::waitpid(pid_, &status, 0) != pid_) return outcome;
    pid_ = -1;
    outcome.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    outcome.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    outcome.out = out_.contents();
    outcome.err = err_.contents();
    return outcome;
  }

 private:
  Capture out_;
  Capture err_;
  pid_t pid_ = -1;
  Clock::time_point start_;
};

Outcome tandemrun(const std::vector<std::string>& args) { return Job(args).wait(); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "[3] rest" → {3, "rest"}; rank -1 when the line has no prefix.
std::pair<int, std::string> split_prefix(const std::string& line) {
  if (line.empty() || line[0] != '[') return {-1, line};
  size_t close = line.find("] ");
  if (close == std::string::npos) return {-1, line};
  return {std::stoi(line.substr(1, close - 1)), line.substr(close + 2)};
}

std::map<std::string, std::string> fields_of(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  for (std::string word; in >> word;) {
    size_t eq = word.find('=');
    if (eq != std::string::npos) fields[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return fields;
}

TEST(Tandemrun, GivesEveryRankItsEnvironment) {
  ::unsetenv("MASTER_ADDR");
  ::unsetenv("MASTER_PORT");
  ::setenv("TANDEMRUN_TEST_FORWARDED", "kept", 1);
  Outcome r = tandemrun({"-n", "4", "-x", "TANDEMRUN_TEST_EXTRA=hello world", "-x",
                         "TANDEMRUN_TEST_FORWARDED", "--", "/bin/sh", "-c",
                         "echo rank=$TANDEM_RANK world=$TANDEM_WORLD_SIZE"
                         " lrank=$TANDEM_LOCAL_RANK lsize=$TANDEM_LOCAL_SIZE"
                         " r=$RANK w=$WORLD_SIZE lr=$LOCAL_RANK lw=$LOCAL_WORLD_SIZE"
                         " extra=\"$TANDEMRUN_TEST_EXTRA\" fwd=$TANDEMRUN_TEST_FORWARDED"
                         " master=${MASTER_ADDR:-none}/${MASTER_PORT:-none}"
                         " id=$TANDEM_UNIQUE_ID"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  std::set<int> ranks;
  std::set<std::string> ids;
  for (const std::string& line : lines) {
    auto [rank, text] = split_prefix(line);
    auto f = fields_of(text);
    const std::string k = std::to_string(rank);
    EXPECT_EQ(f["rank"], k) << line;
    EXPECT_EQ(f["world"], "4");
    EXPECT_EQ(f["lrank"], k);
    EXPECT_EQ(f["lsize"], "4");
    EXPECT_EQ(f["r"], k);
    EXPECT_EQ(f["w"], "4");
    EXPECT_EQ(f["lr"], k);
    EXPECT_EQ(f["lw"], "4");
    EXPECT_EQ(f["fwd"], "kept");
    EXPECT_EQ(f["master"], "none/none");
    EXPECT_NE(text.find("extra=hello world "), std::string::npos) << line;
    ranks.insert(rank);
    ids.insert(f["id"]);
  }
  EXPECT_EQ(ranks, (std::set<int>{0, 1, 2, 3}));

  // One id for the whole job, and it decodes to the launcher's loopback rendezvous.
  ASSERT_EQ(ids.size(), 1u);
  tdm::bootstrap::UniqueIdContents contents;
  ASSERT_NO_THROW(contents = tdm::bootstrap::decode(tdm::bootstrap::from_hex(*ids.begin())));
  ASSERT_EQ(contents.root.storage.ss_family, AF_INET);
  auto* in = reinterpret_cast<const sockaddr_in*>(&contents.root.storage);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_NE(in->sin_port, 0);
}

TEST(Tandemrun, PrefixesWholeLinesWithoutInterleaving) {
  // Every rank writes 100 lines of 15 KB in three writes each, plus stderr lines, at once.
  constexpr int kRanks = 6, kLines = 100, kWidth = 15000;
  Outcome r =
      tandemrun({"-n", std::to_string(kRanks), "--", "/bin/sh", "-c",
                 "s=$(printf '%0500d' 0 | tr 0 x); s=$s$s$s$s$s$s$s$s$s$s; i=0;"
                 " while [ $i -lt " +
                     std::to_string(kLines) +
                     " ]; do"
                     "   printf '%s:%s:' $TANDEM_RANK $i; printf '%s' $s$s; printf '%s\\n' $s;"
                     "   echo err$TANDEM_RANK:$i >&2; i=$((i+1));"
                     " done"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string xs(kWidth, 'x');
  std::map<int, int> next;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), size_t{kRanks * kLines});
  for (const std::string& line : lines) {
    auto [rank, text] = split_prefix(line);
    ASSERT_GE(rank, 0) << line.substr(0, 80);
    std::string expect = std::to_string(rank) + ":" + std::to_string(next[rank]++) + ":" + xs;
    ASSERT_EQ(text, expect) << "line starting " << line.substr(0, 80);
  }
  for (int rank = 0; rank < kRanks; ++rank) EXPECT_EQ(next[rank], kLines);

  std::map<int, int> next_err;
  for (const std::string& line : lines_of(r.err)) {
    auto [rank, text] = split_prefix(line);
    ASSERT_GE(rank, 0) << line;
    EXPECT_EQ(text, "err" + std::to_string(rank) + ":" + std::to_string(next_err[rank]++));
  }
  for (int rank = 0; rank < kRanks; ++rank) EXPECT_EQ(next_err[rank], kLines);
}

TEST(Tandemrun, SeparatesStreamsAndFlushesPartialLines) {
  Outcome r = tandemrun(
      {"-n", "1", "--", "/bin/sh", "-c", "echo out; echo err >&2; printf 'a\\nno newline'"});
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "[0] out\n[0] a\n[0] no newline\n");
  EXPECT_EQ(r.err, "[0] err\n");

  r = tandemrun({"--no-prefix", "-n", "1", "--", "/bin/sh", "-c",
                 "echo out; echo err >&2; printf 'a\\nno newline'"});
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "out\na\nno newline");
  EXPECT_EQ(r.err, "err\n");
}

TEST(Tandemrun, FailingRankStopsTheJob) {
  const char* script =
      "if [ $TANDEM_RANK = 1 ]; then sleep 0.3; exit 3; fi; sleep 30; echo survived";
  Outcome r = tandemrun({"-n", "3", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.code, 3);
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_NE(r.err.find("tandemrun: rank 1 exited with status 3"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("survived"), std::string::npos);
}

TEST(Tandemrun, KilledRankGives128PlusSignal) {
  Outcome r = tandemrun(
      {"-n", "2", "--", "/bin/sh", "-c", "if [ $TANDEM_RANK = 0 ]; then kill -9 $$; fi; sleep 30"});
  EXPECT_EQ(r.code, 128 + SIGKILL);
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_NE(r.err.find("tandemrun: rank 0 killed by signal SIGKILL"), std::string::npos) << r.err;
}

TEST(Tandemrun, KillsRanksThatIgnoreSigterm) {
  char dir[] = "/tmp/tandemrun_test_dir.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string ready = std::string(dir) + "/ready";
  // Rank 1 ignores SIGTERM (and so does its sleep); rank 0 fails once that is set up.
  Outcome r = tandemrun({"--timeout", "60", "-n", "2", "--", "/bin/sh", "-c",
                         "if [ $TANDEM_RANK = 0 ]; then"
                         "   while [ ! -e " +
                             ready +
                             " ]; do sleep 0.05; done; exit 5;"
                             " fi; trap '' TERM; touch " +
                             ready + "; sleep 30"});
  ::unlink(ready.c_str());
  ::rmdir(dir);
  EXPECT_EQ(r.code, 5);
  EXPECT_GE(r.seconds, 2.5);
  EXPECT_LT(r.seconds, 15.0);
  EXPECT_NE(r.err.find("SIGKILL"), std::string::npos) << r.err;
}

TEST(Tandemrun, TimeoutExits124) {
  Outcome r = tandemrun({"--timeout", "1", "-n", "2", "--", "/bin/sh", "-c", "sleep 30"});
  EXPECT_EQ(r.code, 124);
  EXPECT_GE(r.seconds, 0.9);
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
}

TEST(Tandemrun, ForwardsSigterm) {
  Job run({"-n", "2", "--", "/bin/sh", "-c", "echo ready; sleep 30"});
  ASSERT_GT(run.pid(), 0);
  auto give_up = Clock::now() + std::chrono::seconds(20);
  while (lines_of(run.out_so_far()).size() < 2 && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(run.pid(), SIGTERM);
  Outcome r = run.wait();
  EXPECT_EQ(r.code, 128 + SIGTERM);
  EXPECT_LT(r.seconds, 15.0);
  EXPECT_NE(r.err.find("SIGTERM"), std::string::npos) << r.err;
}

TEST(Tandemrun, BadUsageExits2) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"-n", "2"},
      {"-n", "2", "--"},
      {"-n"},
      {"-n", "0", "--", "true"},
      {"-n", "-1", "--", "true"},
      {"-n", "abc", "--", "true"},
      {"--bogus", "-n", "2", "--", "true"},
      {"--timeout", "0", "-n", "1", "--", "true"},
      {"--timeout", "soon", "-n", "1", "--", "true"},
      {"-x", "=oops", "-n", "1", "--", "true"},
      {"true"},
  };
  for (const auto& args : bad) {
    Outcome r = tandemrun(args);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    EXPECT_EQ(r.code, 2) << shown;
    EXPECT_NE(r.err.find("usage: tandemrun"), std::string::npos) << shown << ": " << r.err;
  }
  // The accepted spellings.
  for (const auto& args : std::vector<std::vector<std::string>>{{"-np", "2", "--", "true"},
                                                                {"-n2", "true"},
                                                                {"--np=2", "true"},
                                                                {"--timeout=5", "-n", "1", "true"}})
    EXPECT_EQ(tandemrun(args).code, 0) << args[0];
  Outcome help = tandemrun({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("usage: tandemrun"), std::string::npos);
}

TEST(Tandemrun, UnrunnableCommandExits127) {
  Outcome r = tandemrun({"-n", "2", "--", "/nonexistent/tandemrun-test-program"});
  EXPECT_EQ(r.code, 127);
  EXPECT_NE(r.err.find("cannot execute '/nonexistent/tandemrun-test-program'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;

  r = tandemrun({"-n", "1", "--", "tandemrun-test-no-such-command"});  // looked up in PATH
  EXPECT_EQ(r.code, 127);
  EXPECT_NE(r.err.find("cannot execute"), std::string::npos) << r.err;
}

// Ranks started by tandemrun find each other through its rendezvous server, twice
// with the same id (the server serves any number of rounds).
TEST(Tandemrun, RanksRendezvous) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  Outcome r = tandemrun({"-n", "3", "-x", "TANDEMRUN_TEST_CHILD=1", "--", self});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (int rank = 0; rank < 3; ++rank)
    EXPECT_NE(r.out.find("[" + std::to_string(rank) + "] rendezvous ok: rank " +
                         std::to_string(rank) + " of 3, sum 30"),
              std::string::npos)
        << r.out;
}

// Inside the ranks of RanksRendezvous (TANDEMRUN_TEST_CHILD set) the binary does
// the rendezvous instead of running tests: chosen before main(), so ctest never
// lists the child side as a test of its own.
int run_rendezvous_child() {
  const tdmUniqueId id = tdm::bootstrap::from_hex(std::getenv("TANDEM_UNIQUE_ID"));
  const int rank = std::atoi(std::getenv("TANDEM_RANK"));
  const int nranks = std::atoi(std::getenv("TANDEM_WORLD_SIZE"));
  for (int round = 0; round < 2; ++round) {
    auto boot = tdm::bootstrap::Bootstrap::connect(id, rank, nranks, nullptr);
    auto all = boot->allgather_value(rank * 10);
    int sum = 0;
    for (int v : all) sum += v;
    boot->barrier();
    if (round == 1)
      std::printf("rendezvous ok: rank %d of %d, sum %d\n", boot->rank(), boot->nranks(), sum);
  }
  std::fflush(stdout);
  return 0;
}

[[maybe_unused]] const bool g_child_mode = [] {
  if (std::getenv("TANDEMRUN_TEST_CHILD") == nullptr) return false;
  std::exit(run_rendezvous_child());
}();

}  // namespace
