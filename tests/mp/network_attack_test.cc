// The bootstrap under attack, with real processes: while a 3-rank job forms,
// the parent opens idle, garbage, truncated, oversized and wrong-key
// connections against its rendezvous root. The job must form within a second
// of its time without the attack, every intruder must be refused, and the
// ranks' first collective must be right. Prints both times (docs/threat-model.md).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/handshake.h"
#include "bootstrap/unique_id.h"
#include "tandem/tandem.h"

namespace {

using namespace tdm;
using namespace tdm::bootstrap;

constexpr int kRanks = 3;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A rank: init, one allreduce checked against the sum it must give, destroy.
int rank_main(int rank, const tdmUniqueId& id) {
  tdmComm_t comm = nullptr;
  if (tdmCommInitRank(&comm, kRanks, id, rank) != tdmSuccess) {
    std::fprintf(stderr, "rank %d: init failed: %s\n", rank, tdmGetLastError(comm));
    return 1;
  }
  std::vector<float> data(1024, float(rank + 1)), out(1024, -1.0f);
  tdmResult_t r =
      tdmAllReduce(data.data(), out.data(), data.size(), tdmFloat32, tdmSum, comm, nullptr);
  bool right = r == tdmSuccess;
  for (float v : out) right = right && v == float(kRanks * (kRanks + 1) / 2);
  tdmCommDestroy(comm);
  return right ? 0 : 2;
}

struct Formed {
  double seconds = 0;
  std::vector<int> codes;
};

// Forks the ranks (before any thread of this process: they read the id from
// a pipe), lets `attack` loose on the root, then hands the ranks the id and
// times until every rank has exited.
template <typename Attack>
Formed form_job(Attack attack) {
  std::vector<pid_t> pids;
  std::vector<int> pipes;
  for (int r = 0; r < kRanks; ++r) {
    int fds[2];
    if (pipe(fds) != 0) ADD_FAILURE() << "pipe";
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[1]);
      tdmUniqueId id;
      bool got = read(fds[0], &id, sizeof id) == ssize_t(sizeof id);
      _exit(got ? rank_main(r, id) : 3);
    }
    close(fds[0]);
    pids.push_back(pid);
    pipes.push_back(fds[1]);
  }
  tdmUniqueId id;
  EXPECT_EQ(tdmGetUniqueId(&id), tdmSuccess);
  attack(decode(id));
  Formed formed;
  const auto start = Clock::now();
  for (int fd : pipes) {
    EXPECT_EQ(write(fd, &id, sizeof id), ssize_t(sizeof id));
    close(fd);
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    formed.codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  formed.seconds = seconds_since(start);
  return formed;
}

TEST(NetworkAttack, JobFormsOnTimeAndIntrudersAreRefused) {
  ::setenv("TANDEM_TIMEOUT", "60", 1);
  Formed quiet = form_job([](const UniqueIdContents&) {});
  EXPECT_EQ(quiet.codes, std::vector<int>(kRanks, 0));

  std::vector<Fd> attackers;
  std::vector<std::thread> intruders;
  std::atomic<int> refused{0}, admitted{0};
  Formed attacked = form_job([&](const UniqueIdContents& job) {
    const Deadline soon = Deadline::after_seconds(10);
    auto open = [&] { return net::connect_to(job.root, soon, "attacking the root"); };
    for (int i = 0; i < 50; ++i) attackers.push_back(open());  // idle
    std::vector<std::byte> garbage(4096);
    crypto::random_bytes(garbage);
    for (int i = 0; i < 20; ++i) {  // garbage, then truncated hellos
      Fd fd = open();
      const size_t n = i < 10 ? garbage.size() : sizeof(Hello) / 2;
      ::send(fd.get(), garbage.data(), n, MSG_NOSIGNAL);
      attackers.push_back(std::move(fd));
    }
    std::vector<std::byte> flood(1 << 20, std::byte{0xff});
    for (int i = 0; i < 5; ++i) {  // oversized
      Fd fd = open();
      net::set_nonblocking(fd.get(), true);
      ::send(fd.get(), flood.data(), flood.size(), MSG_NOSIGNAL);
      attackers.push_back(std::move(fd));
    }
    // Wrong key: the protocol run properly, claiming the job's ranks, with a
    // hello announcing the 1.5 GB address length that once crashed every rank.
    for (int r = 0; r < kRanks; ++r)
      intruders.emplace_back([&, r, job] {  // job: a copy, the threads outlive `attack`
        Credentials forged{job.key, job.nonce};
        forged.key[r] ^= 0x5a;
        Hello hello;
        hello.rank = r;
        hello.nranks = kRanks;
        hello.purpose = static_cast<int32_t>(Purpose::kRendezvous);
        hello.listen.length = 1566399812;
        try {
          connect_authenticated(job.root, forged, hello, Deadline::after_seconds(20), "intruding");
          admitted.fetch_add(1);
        } catch (const Error&) {
          refused.fetch_add(1);
        }
      });
  });
  for (auto& t : intruders) t.join();
  EXPECT_EQ(attacked.codes, std::vector<int>(kRanks, 0));
  EXPECT_EQ(admitted.load(), 0);
  EXPECT_EQ(refused.load(), kRanks);
  std::printf(
      "time to form %d ranks: %.3f s quiet, %.3f s under attack (%zu raw connections, "
      "%d wrong-key intruders)\n",
      kRanks, quiet.seconds, attacked.seconds, attackers.size(), kRanks);
  EXPECT_LT(attacked.seconds, quiet.seconds + 1.0);
  ::unsetenv("TANDEM_TIMEOUT");
}

}  // namespace
