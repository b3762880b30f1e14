// Both transports behind transports/transport.h, between ranks that are
// threads of this process: random bytes in messages of random (often odd)
// sizes, padded to kLinkAlignment as the executor does, through rings much
// smaller than the traffic so every ring wraps many times; socket links that
// stage bytes (flushed) and a peer that closes its socket. A shared-memory
// link cannot notice a peer that left (the executor watches the bootstrap for
// that: tests/unit/collectives/host/plans_test.cc).
#include "transports/transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/thread_ranks.h"
#include "util/error.h"

namespace tdm::transport {
namespace {

using Clock = std::chrono::steady_clock;
using testing::fresh_seed;
using testing::links_to_all;
using testing::with_bootstraps;

std::unique_ptr<Transport> make(const std::string& kind) {
  return kind == "shm" ? make_shm_transport() : make_socket_transport();
}

size_t pad_of(size_t bytes) { return (kLinkAlignment - bytes % kLinkAlignment) % kLinkAlignment; }

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kLinkAlignment == 0; }

// What `from` sends to `to`: message sizes and their bytes, known to both ends.
struct Traffic {
  std::vector<size_t> sizes;
  std::vector<std::byte> bytes;  // the messages back to back, without padding
};

Traffic traffic(uint64_t seed, int from, int to, size_t capacity) {
  std::mt19937_64 rng(seed + static_cast<uint64_t>(from * 64 + to) * 0x9E3779B97F4A7C15ull);
  Traffic t;
  size_t total = 0;
  while (total < 40 * capacity) {
    // Tiny, odd, around the capacity and beyond it.
    size_t size = rng() % 4 == 0 ? rng() % 9 + 1 : rng() % (3 * capacity) + 1;
    t.sizes.push_back(size);
    total += size;
  }
  t.bytes.resize(total);
  for (auto& b : t.bytes) b = static_cast<std::byte>(rng());
  return t;
}

// One direction of one link, as a state machine the rank's loop advances.
struct Sender {
  const Traffic* t;
  size_t message = 0, offset = 0, at = 0;
  bool padding = false;
  bool done() const { return message == t->sizes.size(); }
  bool step(Link& link) {
    if (done()) return false;
    auto space = link.send_space();
    const size_t size = t->sizes[message];
    if (!padding) {
      if (space.empty()) return false;
      if (offset == 0 && !aligned(space.data()))
        throw std::runtime_error("a message starts at an unaligned send offset");
      size_t n = std::min(space.size(), size - offset);
      std::memcpy(space.data(), t->bytes.data() + at, n);
      link.send_commit(n);
      offset += n;
      at += n;
      if (offset == size) padding = true;
      return true;
    }
    const size_t pad = pad_of(size);
    if (space.size() < pad) return false;
    if (pad) link.send_commit(pad);
    padding = false;
    offset = 0;
    ++message;
    return true;
  }
};

struct Receiver {
  const Traffic* t;
  int peer;
  size_t message = 0, offset = 0, at = 0;
  bool padding = false;
  bool done() const { return message == t->sizes.size(); }
  bool step(Link& link) {
    if (done()) return false;
    auto data = link.recv_data();
    const size_t size = t->sizes[message];
    if (!padding) {
      if (data.empty()) return false;
      if (offset == 0 && !aligned(data.data()))
        throw std::runtime_error("a message starts at an unaligned receive offset");
      size_t n = std::min(data.size(), size - offset);
      if (std::memcmp(data.data(), t->bytes.data() + at, n) != 0)
        throw std::runtime_error("bytes from rank " + std::to_string(peer) + " differ in message " +
                                 std::to_string(message) + " (size " + std::to_string(size) +
                                 ") at offset " + std::to_string(offset));
      link.recv_release(n);
      offset += n;
      at += n;
      if (offset == size) padding = true;
      return true;
    }
    const size_t pad = pad_of(size);
    if (data.size() < pad) return false;
    if (pad) link.recv_release(pad);
    padding = false;
    offset = 0;
    ++message;
    return true;
  }
};

// Every rank streams its traffic to every other rank at once (all directions
// progress together, so small rings cannot deadlock), then waits for its
// links to be flushed. Throws when nothing moves for 20 s: a failure, never a hang.
void stream_all_to_all(const std::string& kind, int nranks, size_t capacity, uint64_t seed) {
  auto errors = with_bootstraps(nranks, [&](int rank, bootstrap::Bootstrap& boot) {
    auto transport = make(kind);
    auto links = links_to_all(*transport, boot, capacity);
    std::vector<Traffic> out(nranks), in(nranks);
    std::vector<Sender> senders;
    std::vector<Receiver> receivers;
    for (int peer = 0; peer < nranks; ++peer) {
      if (peer == rank) continue;
      if (std::string(links[peer]->name()) != kind)
        throw std::runtime_error(std::string("link is ") + links[peer]->name());
      out[peer] = traffic(seed, rank, peer, capacity);
      in[peer] = traffic(seed, peer, rank, capacity);
      senders.push_back(Sender{&out[peer]});
      receivers.push_back(Receiver{&in[peer], peer});
    }
    auto last_move = Clock::now();
    for (;;) {
      bool moved = false, done = true;
      for (int peer = 0; peer < nranks; ++peer) {
        if (peer == rank) continue;
        Link& link = *links[peer];
        moved |= link.progress();
        done = done && link.flushed();
      }
      size_t i = 0;
      for (int peer = 0; peer < nranks; ++peer) {
        if (peer == rank) continue;
        moved |= senders[i].step(*links[peer]);
        moved |= receivers[i].step(*links[peer]);
        done = done && senders[i].done() && receivers[i].done();
        ++i;
      }
      if (done) break;
      if (moved) {
        last_move = Clock::now();
      } else {
        if (Clock::now() - last_move > std::chrono::seconds(20))
          throw std::runtime_error("no progress for 20 s");
        std::this_thread::yield();
      }
    }
    boot.barrier();  // the peers' links stay open until everyone has read
  });
  testing::expect_no_errors(errors);
}

class Streams : public ::testing::TestWithParam<std::string> {};

TEST_P(Streams, RandomBytesInOddMessagesWrapTheRingsInOrder) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int nranks : {2, 3})
    for (size_t capacity : {size_t(1000), size_t(4096)}) {  // 1000: not a power of two
      SCOPED_TRACE(std::to_string(nranks) + " ranks, capacity " + std::to_string(capacity));
      stream_all_to_all(GetParam(), nranks, capacity, seed);
    }
}

TEST_P(Streams, ARankWithoutPeersGetsNoLinks) {
  auto errors = with_bootstraps(3, [&](int rank, bootstrap::Bootstrap& boot) {
    // Ranks 0 and 1 link to each other; rank 2 joins the collective with no peers.
    std::vector<int> peers;
    if (rank < 2) peers.push_back(1 - rank);
    auto links = make(GetParam())->connect(boot, peers, 4096);
    if (links.size() != peers.size()) throw std::runtime_error("wrong number of links");
    if (rank < 2) {
      int value = rank + 40;
      auto space = links[0]->send_space();
      std::memcpy(space.data(), &value, sizeof(value));
      links[0]->send_commit(sizeof(value));
      for (auto start = Clock::now(); links[0]->recv_data().size() < sizeof(value);) {
        links[0]->progress();
        if (Clock::now() - start > std::chrono::seconds(20)) throw std::runtime_error("stalled");
      }
      int got = 0;
      std::memcpy(&got, links[0]->recv_data().data(), sizeof(got));
      if (got != 1 - rank + 40) throw std::runtime_error("wrong value " + std::to_string(got));
      links[0]->recv_release(sizeof(got));
      while (!links[0]->flushed()) links[0]->progress();
    }
    boot.barrier();
  });
  testing::expect_no_errors(errors);
}

INSTANTIATE_TEST_SUITE_P(Transports, Streams, ::testing::Values("shm", "socket"),
                         [](const auto& info) { return info.param; });

// Sockets stage committed bytes in this process: flushed() is false while
// the peer does not read and the kernel's buffers are full, true once drained.
TEST(SocketLink, FlushedOnlyWhenStagedBytesLeft) {
  constexpr size_t kCapacity = 64 << 10;
  constexpr size_t kLimit = size_t(1) << 30;  // far beyond any kernel socket buffer
  auto errors = with_bootstraps(2, [&](int rank, bootstrap::Bootstrap& boot) {
    auto links = links_to_all(*make_socket_transport(), boot, kCapacity);
    Link& link = *links[1 - rank];
    uint64_t total = 0;
    if (rank == 0) {
      bool unflushed = false;
      while (!unflushed && total < kLimit) {
        auto space = link.send_space();
        if (space.empty()) break;  // staging full, yet flushed() said nothing was staged
        for (size_t i = 0; i < space.size(); ++i) space[i] = std::byte((total + i) % 251);
        link.send_commit(space.size());
        total += space.size();
        link.progress();
        unflushed = !link.flushed();
      }
      if (!unflushed)
        throw std::runtime_error("flushed() stayed true with a peer that never reads");
      boot.send(1, as_bytes_of(total));
      for (auto start = Clock::now(); !link.flushed();) {
        link.progress();
        if (Clock::now() - start > std::chrono::seconds(20)) throw std::runtime_error("stalled");
      }
    } else {
      boot.recv(0, as_writable_bytes_of(total));
      uint64_t got = 0;
      for (auto start = Clock::now(); got < total;) {
        link.progress();
        auto data = link.recv_data();
        for (size_t i = 0; i < data.size(); ++i)
          if (data[i] != std::byte((got + i) % 251)) throw std::runtime_error("wrong byte");
        link.recv_release(data.size());
        got += data.size();
        if (Clock::now() - start > std::chrono::seconds(20)) throw std::runtime_error("stalled");
      }
    }
    boot.barrier();
  });
  testing::expect_no_errors(errors);
}

// A peer that sent some bytes and closed: the bytes arrive, then the link
// reports tdmRemoteError (not a hang, not a silent empty stream).
TEST(SocketLink, PeerThatClosesIsAnErrorAfterItsBytes) {
  auto errors = with_bootstraps(2, [&](int rank, bootstrap::Bootstrap& boot) {
    auto links = links_to_all(*make_socket_transport(), boot, 4096);
    Link& link = *links[1 - rank];
    if (rank == 1) {
      auto space = link.send_space();
      for (size_t i = 0; i < 100; ++i) space[i] = std::byte(i);
      link.send_commit(100);
      while (!link.flushed()) link.progress();
      links.clear();  // closes the connection
      boot.barrier();
      return;
    }
    boot.barrier();
    size_t got = 0;
    const auto start = Clock::now();
    try {
      for (;;) {
        link.progress();
        auto data = link.recv_data();
        for (size_t i = 0; i < data.size(); ++i)
          if (data[i] != std::byte(got + i)) throw std::runtime_error("wrong byte");
        got += data.size();
        link.recv_release(data.size());
        if (Clock::now() - start > std::chrono::seconds(20))
          throw std::runtime_error("no error 20 s after the peer closed");
        std::this_thread::yield();
      }
    } catch (const Error& e) {
      if (e.code() != tdmRemoteError) throw;
      if (got != 100)
        throw std::runtime_error("error after " + std::to_string(got) + " of 100 bytes");
      if (std::string(e.what()).find("closed by the peer") == std::string::npos) throw;
    }
  });
  testing::expect_no_errors(errors);
}

// Sending to a peer that closed fails too (EPIPE/ECONNRESET), within the test's deadline.
TEST(SocketLink, SendingToAPeerThatClosedIsAnError) {
  auto errors = with_bootstraps(2, [&](int rank, bootstrap::Bootstrap& boot) {
    auto links = links_to_all(*make_socket_transport(), boot, 4096);
    if (rank == 1) {
      links.clear();
      boot.barrier();
      return;
    }
    boot.barrier();
    Link& link = *links[1];
    const auto start = Clock::now();
    try {
      for (;;) {
        auto space = link.send_space();
        std::memset(space.data(), 7, space.size());
        link.send_commit(space.size());
        link.progress();
        (void)link.recv_data();
        if (Clock::now() - start > std::chrono::seconds(20))
          throw std::runtime_error("no error 20 s after the peer closed");
        std::this_thread::yield();
      }
    } catch (const Error& e) {
      if (e.code() != tdmRemoteError) throw;
    }
  });
  testing::expect_no_errors(errors);
}

}  // namespace
}  // namespace tdm::transport
