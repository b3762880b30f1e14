// Unique ids, environment knobs, and the bootstrap between threads of one
// process (rendezvous, allgather, send/recv, timeout when a rank never
// arrives, noticing a peer that left).
#include "bootstrap/bootstrap.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "bootstrap/root.h"
#include "util/error.h"

namespace {

using tdm::bootstrap::Bootstrap;
using tdm::bootstrap::RootServer;

TEST(UniqueId, RoundTripsThroughHexAndRejectsGarbage) {
  auto server = RootServer::start(1, nullptr);
  const tdmUniqueId id = server->id();
  auto contents = tdm::bootstrap::decode(id);
  EXPECT_NE(contents.nonce, 0u);
  tdmUniqueId again = tdm::bootstrap::from_hex(tdm::bootstrap::to_hex(id));
  EXPECT_EQ(0, std::memcmp(&id, &again, sizeof(id)));
  tdmUniqueId garbage{};
  EXPECT_THROW(tdm::bootstrap::decode(garbage), tdm::Error);
  EXPECT_THROW(tdm::bootstrap::from_hex("zz"), tdm::Error);
}

// Runs body(rank, bootstrap) on nranks threads joined through one root.
template <typename F>
void with_ranks(int nranks, F body) {
  auto server = RootServer::start(1, nullptr);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(nranks);
  for (int r = 0; r < nranks; ++r)
    threads.emplace_back([&, r] {
      try {
        auto boot = Bootstrap::connect(server->id(), r, nranks, nullptr);
        body(r, *boot);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < nranks; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

TEST(Bootstrap, AllgatherAndPointToPointBetweenThreads) {
  for (int nranks : {1, 2, 3, 5}) {
    with_ranks(nranks, [nranks](int rank, Bootstrap& boot) {
      // Large blocks: the ring allgather must not deadlock on socket buffers.
      std::vector<int> mine(100000, rank), all(100000 * nranks, -1);
      boot.allgather(std::as_bytes(std::span(mine)), std::as_writable_bytes(std::span(all)));
      for (int r = 0; r < nranks; ++r)
        for (int i = 0; i < 100000; i += 997)
          if (all[r * 100000 + i] != r) throw std::runtime_error("allgather mismatch");
      if (nranks > 1) {
        int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;
        int value = rank * 7, got = -1;
        if (rank % 2 == 0) {
          boot.send(next, tdm::as_bytes_of(value));
          boot.recv(prev, tdm::as_writable_bytes_of(got));
        } else {
          boot.recv(prev, tdm::as_writable_bytes_of(got));
          boot.send(next, tdm::as_bytes_of(value));
        }
        if (got != prev * 7) throw std::runtime_error("send/recv mismatch");
      }
      boot.barrier();
    });
  }
}

TEST(Bootstrap, MissingRankTimesOutWithAClearError) {
  ::setenv("TANDEM_TIMEOUT", "1", 1);
  auto server = RootServer::start(1, nullptr);
  auto start = std::chrono::steady_clock::now();
  try {
    Bootstrap::connect(server->id(), 0, 2, nullptr);  // rank 1 never comes
    FAIL() << "no error";
  } catch (const tdm::Error& e) {
    EXPECT_EQ(e.code(), tdmRemoteError);
    EXPECT_NE(std::string(e.what()).find("missing ranks: 1"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ::unsetenv("TANDEM_TIMEOUT");
}

TEST(Bootstrap, NoticesAPeerThatLeft) {
  auto server = RootServer::start(1, nullptr);
  std::unique_ptr<Bootstrap> survivor;
  std::thread leaver([&] { Bootstrap::connect(server->id(), 1, 2, nullptr); });  // closes at once
  survivor = Bootstrap::connect(server->id(), 0, 2, nullptr);
  leaver.join();
  for (int i = 0; i < 100 && !survivor->peer_closed(1); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(survivor->peer_closed(1));
  int value = 0;
  EXPECT_THROW(survivor->recv(1, tdm::as_writable_bytes_of(value)), tdm::Error);
}

TEST(Bootstrap, AbortFlagInterruptsAWait) {
  auto server = RootServer::start(1, nullptr);
  std::atomic<bool> abort{false};
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    abort = true;
  });
  auto start = std::chrono::steady_clock::now();
  try {
    Bootstrap::connect(server->id(), 0, 2, &abort);
    FAIL() << "no error";
  } catch (const tdm::Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidUsage);
    EXPECT_NE(std::string(e.what()).find("aborted"), std::string::npos) << e.what();
  }
  aborter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
