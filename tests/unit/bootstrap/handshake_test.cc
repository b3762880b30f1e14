// Authenticated connections under attack: an acceptor keeps serving real
// ranks while idle, garbage, truncated, oversized and wrong-key connections
// are open against it; a connector without the key is refused; connecting to
// a host that drops SYNs gives up at the deadline, not the kernel's minutes.
#include "bootstrap/handshake.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "bootstrap/root.h"

namespace tdm::bootstrap {
namespace {

using namespace std::chrono_literals;

Credentials random_credentials() {
  Credentials c;
  crypto::random_bytes(std::as_writable_bytes(std::span(c.key)));
  c.job = 7;
  return c;
}

Hello hello_from(int rank, int nranks) {
  Hello h;
  h.rank = rank;
  h.nranks = nranks;
  h.purpose = static_cast<int32_t>(Purpose::kMesh);
  return h;
}

Fd raw_connect(const SocketAddress& to) {
  return net::connect_to(to, Deadline::after_seconds(5), "attacking");
}

void send_raw(int fd, std::span<const std::byte> data) {
  ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
}

struct Server {
  SocketAddress address = net::loopback_address();
  Fd listener = net::listen_on(address);
  Server() { net::set_nonblocking(listener.get(), true); }
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

TEST(Handshake, KeyHolderConnectsAndOthersAreRefused) {
  Server server;
  const Credentials creds = random_credentials();
  Acceptor acceptor(server.listener.get(), creds, Purpose::kMesh, "test acceptor");
  std::thread acceptor_thread([&] {
    Connection c = acceptor.next(Deadline::after_seconds(20), "accepting");
    EXPECT_EQ(c.hello.rank, 1);
    EXPECT_EQ(c.hello.nranks, 3);
  });
  Credentials wrong = creds;
  wrong.key[5] ^= 1;
  try {
    connect_authenticated(server.address, wrong, hello_from(0, 3), Deadline::after_seconds(10),
                          "joining");
    ADD_FAILURE() << "a wrong key was admitted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmRemoteError);
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
  Connection c = connect_authenticated(server.address, creds, hello_from(1, 3),
                                       Deadline::after_seconds(10), "joining");
  EXPECT_TRUE(c.fd.valid());
  acceptor_thread.join();
  EXPECT_GE(acceptor.refused(), 1u);
}

TEST(Handshake, AnImpostorAcceptorCannotProveTheKey) {
  // Someone squatting on a rank's port: runs the protocol, but without the
  // key its accept is made up.
  Server server;
  const Credentials creds = random_credentials();
  std::thread impostor([&] {
    Fd fd = net::accept_from(server.listener.get(), Deadline::after_seconds(10), "squatting");
    net::set_nonblocking(fd.get(), false);
    Challenge challenge;
    net::send_all(fd.get(), std::as_bytes(std::span(&challenge, 1)), Deadline::after_seconds(10),
                  "challenging");
    std::array<std::byte, sizeof(Hello)> hello{};
    net::recv_all(fd.get(), hello, Deadline::after_seconds(10), "reading");
    std::array<std::byte, sizeof(Accept)> made_up{};
    crypto::random_bytes(made_up);
    net::send_all(fd.get(), made_up, Deadline::after_seconds(10), "pretending");
  });
  try {
    connect_authenticated(server.address, creds, hello_from(0, 2), Deadline::after_seconds(10),
                          "joining");
    ADD_FAILURE() << "an impostor was trusted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did not prove"), std::string::npos) << e.what();
  }
  impostor.join();
}

TEST(Handshake, AttackersDoNotDelayARealPeer) {
  Server server;
  const Credentials creds = random_credentials();
  std::vector<Fd> attackers;
  // Idle: connect and say nothing.
  for (int i = 0; i < 50; ++i) attackers.push_back(raw_connect(server.address));
  // Garbage of a hello's size, truncated hellos, oversized floods.
  std::vector<std::byte> garbage(sizeof(Hello));
  crypto::random_bytes(garbage);
  for (int i = 0; i < 10; ++i) {
    Fd fd = raw_connect(server.address);
    send_raw(fd.get(), garbage);
    attackers.push_back(std::move(fd));
  }
  for (int i = 0; i < 10; ++i) {
    Fd fd = raw_connect(server.address);
    send_raw(fd.get(), std::span(garbage).first(sizeof(Hello) / 2));
    attackers.push_back(std::move(fd));  // half a hello, then silence
  }
  std::vector<std::byte> flood(1 << 20, std::byte{0x41});
  for (int i = 0; i < 3; ++i) {
    Fd fd = raw_connect(server.address);
    net::set_nonblocking(fd.get(), true);
    send_raw(fd.get(), flood);
    attackers.push_back(std::move(fd));
  }
  Acceptor acceptor(server.listener.get(), creds, Purpose::kMesh, "test acceptor");
  std::atomic<int> admitted{0};
  std::thread acceptor_thread([&] {
    for (int i = 0; i < 2; ++i) {
      Connection c = acceptor.next(Deadline::after_seconds(20), "accepting");
      admitted.fetch_add(1);
    }
  });
  // Wrong-key peers run the protocol properly.
  std::vector<std::thread> wrong_key;
  for (int i = 0; i < 5; ++i)
    wrong_key.emplace_back([&] {
      EXPECT_THROW(connect_authenticated(server.address, random_credentials(), hello_from(0, 3),
                                         Deadline::after_seconds(10), "intruding"),
                   Error);
    });
  const auto start = Clock::now();
  Connection a = connect_authenticated(server.address, creds, hello_from(0, 3),
                                       Deadline::after_seconds(10), "joining");
  Connection b = connect_authenticated(server.address, creds, hello_from(1, 3),
                                       Deadline::after_seconds(10), "joining");
  // Generous for a loaded machine; serial handling of the idle ones alone took seconds.
  EXPECT_LT(seconds_since(start), 1.0);
  acceptor_thread.join();
  for (auto& t : wrong_key) t.join();
  EXPECT_EQ(admitted.load(), 2);
  // Garbage, truncated-then-closed and flooding connections are refused
  // as soon as their bytes arrive; idle ones stay pending until their timeout.
  attackers.clear();
  for (int i = 0; i < 20; ++i) (void)acceptor.poll(10);
  EXPECT_GE(acceptor.refused(), 10u + 10u + 3u + 5u);
}

TEST(Handshake, PendingConnectionsAreCapped) {
  Server server;
  Acceptor acceptor(server.listener.get(), random_credentials(), Purpose::kMesh, "capped");
  std::vector<Fd> idle;
  for (size_t i = 0; i < Acceptor::kMaxPending + 20; ++i)
    idle.push_back(raw_connect(server.address));
  for (int i = 0; i < 50 && acceptor.pending() + acceptor.refused() < idle.size(); ++i)
    (void)acceptor.poll(20);
  EXPECT_EQ(acceptor.pending(), Acceptor::kMaxPending);
  EXPECT_EQ(acceptor.refused(), 20u);
}

TEST(Connect, AHostThatDropsSynsCostsTheDeadlineNotMinutes) {
  // A listener that never accepts, with the smallest backlog: once it is
  // full, Linux drops further SYNs, as a firewalled or dead host does.
  SocketAddress address = net::loopback_address();
  Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address.storage), address.length),
            0);
  ASSERT_EQ(::listen(listener.get(), 0), 0);
  socklen_t len = sizeof(address.storage);
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address.storage), &len);
  std::vector<Fd> fillers;
  for (int i = 0; i < 8; ++i) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address.storage), address.length);
    fillers.push_back(std::move(fd));
  }
  const auto start = Clock::now();
  try {
    Fd fd = net::connect_to(address, Deadline::after_seconds(0.5), "reaching a full backlog");
    // Some kernels still complete the handshake; then reading must time out.
    std::array<std::byte, 1> byte{};
    net::recv_all(fd.get(), byte, Deadline::after_seconds(0.5), "reading");
    ADD_FAILURE() << "nothing was sent, yet a byte arrived";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmRemoteError) << e.what();
  }
  EXPECT_LT(seconds_since(start), 3.0);
}

TEST(Rendezvous, AnIdWithAnotherKeyIsRefusedAndTheJobStillForms) {
  auto server = RootServer::start(1, nullptr);
  UniqueIdContents forged = decode(server->id());
  forged.key[0] ^= 0x80;
  const tdmUniqueId forged_id = encode(forged);
  std::string intruder_error;
  std::thread intruder([&] {
    try {
      Bootstrap::connect(forged_id, 0, 2, nullptr);
    } catch (const Error& e) {
      intruder_error = e.what();
    }
  });
  intruder.join();
  EXPECT_NE(intruder_error.find("refused"), std::string::npos) << intruder_error;
  std::vector<std::thread> ranks;
  std::atomic<int> formed{0};
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      auto boot = Bootstrap::connect(server->id(), r, 2, nullptr);
      boot->barrier();
      formed.fetch_add(1);
    });
  for (auto& t : ranks) t.join();
  EXPECT_EQ(formed.load(), 2);
}

}  // namespace
}  // namespace tdm::bootstrap
