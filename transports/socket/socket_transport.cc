// TCP transport between hosts (and between local ranks when shared memory is
// disabled): one connection per peer pair, with private staging rings on both
// ends that progress() moves through non-blocking send/recv.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "bootstrap/bootstrap.h"
#include "bootstrap/handshake.h"
#include "bootstrap/wire.h"
#include "transports/ring_buffer.h"
#include "transports/transport.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::transport {

namespace {

// A ring in private memory (both ends are in this process).
struct LocalRing {
  explicit LocalRing(size_t capacity)
      : storage(capacity),
        writer(&control, storage.data(), capacity),
        reader(&control, storage.data(), capacity) {}
  RingControl control;
  std::vector<std::byte> storage;
  RingWriter writer;
  RingReader reader;
};

class SocketLink final : public Link {
 public:
  SocketLink(Fd fd, int peer, size_t capacity)
      : fd_(std::move(fd)), peer_(peer), out_(capacity), in_(capacity) {
    net::set_nonblocking(fd_.get(), true);
  }
  std::span<std::byte> send_space() override { return out_.writer.space(); }
  void send_commit(size_t bytes) override {
    out_.writer.commit(bytes);
    progress();
  }
  std::span<const std::byte> recv_data() override {
    auto data = in_.reader.data();
    // A closed connection is only an error once its buffered bytes are used up.
    if (data.empty() && peer_closed_) fail(0);
    return data;
  }
  void recv_release(size_t bytes) override { in_.reader.release(bytes); }
  const char* name() const override { return "socket"; }
  bool flushed() override { return out_.reader.data().empty(); }

  bool progress() override {
    bool moved = false;
    for (auto pending = out_.reader.data(); !pending.empty(); pending = out_.reader.data()) {
      ssize_t n = ::send(fd_.get(), pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        fail(n < 0 ? errno : 0);
      }
      out_.reader.release(static_cast<size_t>(n));
      moved = true;
    }
    for (auto room = in_.writer.space(); !room.empty() && !peer_closed_;
         room = in_.writer.space()) {
      ssize_t n = ::recv(fd_.get(), room.data(), room.size(), MSG_DONTWAIT);
      if (n == 0) {
        peer_closed_ = true;  // the peer finished or died; what it sent is still ours
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        fail(errno);
      }
      in_.writer.commit(static_cast<size_t>(n));
      moved = true;
    }
    return moved;
  }

 private:
  // Unresolved: the executor asks the bootstrap which rank died first.
  [[noreturn]] void fail(int err) {
    throw PeerGoneError(peer_, /*resolved=*/false,
                        "socket connection to rank " + std::to_string(peer_) +
                            (err == 0 ? std::string(" was closed by the peer (process exited or "
                                                    "aborted)")
                                      : std::string(" failed: ") + std::strerror(err)));
  }

  Fd fd_;
  int peer_;
  bool peer_closed_ = false;
  LocalRing out_;
  LocalRing in_;
};

class SocketTransport final : public Transport {
 public:
  const char* name() const override { return "socket"; }

  std::vector<std::unique_ptr<Link>> connect(bootstrap::Bootstrap& boot, std::span<const int> peers,
                                             size_t capacity) override {
    // Listen on the address the bootstrap mesh uses, so the same network is taken.
    bootstrap::SocketAddress mine = boot.address_of(boot.rank());
    reinterpret_cast<sockaddr_in*>(&mine.storage)->sin_port = 0;
    Fd listener = peers.empty() ? Fd() : net::listen_on(mine);
    if (listener.valid()) net::set_nonblocking(listener.get(), true);
    // Peers' addresses come over the authenticated mesh; each is checked all the same.
    auto table = boot.allgather_value(bootstrap::WireAddress::from(mine));

    std::vector<Fd> fds(boot.nranks());
    Deadline deadline = boot.deadline();
    int expected_accepts = 0;
    for (int peer : peers) {
      if (peer < boot.rank()) {
        ++expected_accepts;
        continue;
      }
      bootstrap::Hello hello;
      hello.rank = boot.rank();
      hello.nranks = boot.nranks();
      hello.purpose = static_cast<int32_t>(bootstrap::Purpose::kSocketData);
      fds[peer] = bootstrap::connect_authenticated(
                      table[peer].to_address(), boot.credentials(), hello, deadline,
                      "opening a data connection to rank " + std::to_string(peer))
                      .fd;
    }
    std::optional<bootstrap::Acceptor> acceptor;
    if (expected_accepts > 0)
      acceptor.emplace(listener.get(), boot.credentials(), bootstrap::Purpose::kSocketData,
                       "rank " + std::to_string(boot.rank()));
    while (expected_accepts > 0) {
      bootstrap::Connection c = acceptor->next(deadline, "waiting for data connections");
      const int peer = c.hello.rank;
      const bool expected = std::find(peers.begin(), peers.end(), peer) != peers.end();
      if (c.hello.nranks != boot.nranks() || peer >= boot.rank() || !expected ||
          fds[peer].valid()) {
        TDM_WARN("TRANSPORT", "ignoring a data connection claiming rank ", peer);
        continue;
      }
      fds[peer] = std::move(c.fd);
      --expected_accepts;
    }
    // Kernel socket buffers stay autotuned: pinning them to a small staging
    // size makes TCP windows crawl.
    std::vector<std::unique_ptr<Link>> links;
    for (int peer : peers) {
      links.push_back(std::make_unique<SocketLink>(std::move(fds[peer]), peer, capacity));
    }
    TDM_INFO("TRANSPORT", "socket links to ", peers.size(), " peers");
    return links;
  }
};

}  // namespace

std::unique_ptr<Transport> make_socket_transport() { return std::make_unique<SocketTransport>(); }

}  // namespace tdm::transport
