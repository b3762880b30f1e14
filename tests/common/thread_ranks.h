// Ranks as threads of one process, for unit tests of the layers below the
// communicator: each thread joins one bootstrap root, and may open real
// shared-memory or socket links to every peer. Header only; a test using it
// links tandem_transports (or a layer above).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "bootstrap/root.h"
#include "transports/transport.h"

namespace tdm::testing {

// A fresh seed per run; tests print it (SCOPED_TRACE) so a failure can be replayed.
inline uint64_t fresh_seed() {
  std::random_device device;
  return (uint64_t(device()) << 32) | device();
}

// Runs body(rank) on nranks threads; returns each rank's exception text ("" when none).
template <typename F>
std::vector<std::string> on_threads(int nranks, F body) {
  std::vector<std::string> errors(static_cast<size_t>(nranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < nranks; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
        if (errors[static_cast<size_t>(r)].empty()) errors[static_cast<size_t>(r)] = "(empty)";
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

// Runs body(rank, bootstrap) on nranks threads joined through one root;
// `abort` (may be null) is every rank's abort flag.
template <typename F>
std::vector<std::string> with_bootstraps(int nranks, F body,
                                         const std::atomic<bool>* abort = nullptr) {
  auto server = bootstrap::RootServer::start(1, nullptr);
  const tdmUniqueId id = server->id();
  return on_threads(nranks, [&](int rank) {
    auto boot = bootstrap::Bootstrap::connect(id, rank, nranks, abort);
    body(rank, *boot);
  });
}

// Links from this rank to every other, indexed by peer (null for self).
inline std::vector<std::unique_ptr<transport::Link>> links_to_all(transport::Transport& transport,
                                                                  bootstrap::Bootstrap& boot,
                                                                  size_t capacity) {
  std::vector<int> peers;
  for (int r = 0; r < boot.nranks(); ++r)
    if (r != boot.rank()) peers.push_back(r);
  auto connected = transport.connect(boot, peers, capacity);
  std::vector<std::unique_ptr<transport::Link>> links(static_cast<size_t>(boot.nranks()));
  for (size_t i = 0; i < peers.size(); ++i)
    links[static_cast<size_t>(peers[i])] = std::move(connected[i]);
  return links;
}

// Expects every rank to have finished without an exception.
inline void expect_no_errors(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

}  // namespace tdm::testing
