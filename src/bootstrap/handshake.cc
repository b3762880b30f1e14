#include "bootstrap/handshake.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace tdm::bootstrap {

namespace {

// Sends a short message on a fresh connection without waiting: the kernel's
// buffer takes it whole, or the peer is not worth waiting for.
bool send_now(int fd, std::span<const std::byte> data) {
  ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return n == static_cast<ssize_t>(data.size());
}

std::string peer_name(int fd) {
  SocketAddress addr;
  socklen_t len = sizeof(addr.storage);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr.storage), &len) != 0) return "?";
  addr.length = len;
  return addr.to_string();
}

}  // namespace

Connection connect_authenticated(const SocketAddress& to, const Credentials& credentials,
                                 Hello hello, const Deadline& deadline, const std::string& what) {
  Fd fd = net::connect_to(to, deadline, what);
  Challenge challenge;
  {
    std::array<std::byte, sizeof(Challenge)> bytes{};
    net::recv_all(fd.get(), bytes, deadline, what + " (waiting for its challenge)");
    challenge = decode_challenge(bytes);
  }
  hello.magic = Hello::kMagic;
  hello.job = credentials.job;
  crypto::random_bytes(std::as_writable_bytes(std::span(hello.nonce)));
  crypto::Digest mac = hello_mac(credentials.key, challenge, hello);
  std::copy(mac.begin(), mac.end(), hello.mac);
  net::send_all(fd.get(), as_bytes_of(hello), deadline, what);
  std::array<std::byte, sizeof(Accept)> proof{};
  try {
    net::recv_all(fd.get(), proof, deadline, what);
  } catch (const Error& e) {
    if (deadline.aborted() || deadline.expired()) throw;
    throw_error(tdmRemoteError, to.to_string(), " refused the connection (", what,
                "): this process's unique id or TANDEM_JOB_SECRET is not the job's (", e.what(),
                ")");
  }
  try {
    verify_accept(proof, credentials.key, challenge, hello);
  } catch (const WireError& e) {
    throw_error(tdmRemoteError, to.to_string(), " (", what, "): ", e.what());
  }
  return Connection{std::move(fd), hello};
}

Acceptor::Acceptor(int listen_fd, Credentials credentials, Purpose purpose, std::string owner)
    : listen_fd_(listen_fd),
      credentials_(credentials),
      purpose_(purpose),
      owner_(std::move(owner)) {}

void Acceptor::refuse(const Pending& p, const std::string& why) {
  ++refused_;
  // Loud for the first few, then sampled: an attack must not flood the log.
  if (refused_ <= 8 || refused_ % 1000 == 0)
    TDM_WARN("BOOT", owner_, " closed a connection from ", p.peer, ": ", why, " (", refused_,
             " refused so far)");
}

void Acceptor::accept_new() {
  while (true) {
    Fd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of descriptors: the rest wait in the backlog
    }
    Pending p;
    p.fd = std::move(fd);
    p.peer = peer_name(p.fd.get());
    crypto::random_bytes(std::as_writable_bytes(std::span(p.challenge.nonce)));
    p.expires = Clock::now() + kHandshakeTimeout;
    if (!send_now(p.fd.get(), as_bytes_of(p.challenge))) {
      refuse(p, "it did not take the challenge");
      continue;
    }
    if (pending_.size() >= kMaxPending) {
      refuse(pending_.front(), "too many connections are half-open; dropping the oldest");
      pending_.erase(pending_.begin());
    }
    pending_.push_back(std::move(p));
  }
}

std::optional<Connection> Acceptor::advance(Pending& p, bool& drop) {
  std::span<std::byte> rest = std::span(p.received).subspan(p.received_bytes);
  ssize_t n = ::recv(p.fd.get(), rest.data(), rest.size(), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return std::nullopt;
    drop = true;
    refuse(p, std::string("connection failed: ") + std::strerror(errno));
    return std::nullopt;
  }
  if (n == 0) {
    drop = true;
    refuse(p, "closed after " + std::to_string(p.received_bytes) + " of " +
                  std::to_string(sizeof(Hello)) + " hello bytes");
    return std::nullopt;
  }
  p.received_bytes += static_cast<size_t>(n);
  if (p.received_bytes < sizeof(Hello)) return std::nullopt;
  drop = true;
  Hello hello;
  try {
    hello = decode_hello(p.received, credentials_.key, p.challenge, credentials_.job, purpose_);
  } catch (const WireError& e) {
    refuse(p, e.what());
    return std::nullopt;
  }
  crypto::Digest mac = accept_mac(credentials_.key, p.challenge, hello);
  if (!send_now(p.fd.get(), std::as_bytes(std::span(mac)))) {
    refuse(p, "it did not take the accept");
    return std::nullopt;
  }
  net::set_nonblocking(p.fd.get(), false);
  net::set_nodelay(p.fd.get());
  return Connection{std::move(p.fd), hello};
}

std::optional<Connection> Acceptor::poll(int wait_ms) {
  std::vector<pollfd> fds;
  fds.reserve(pending_.size() + 1);
  fds.push_back({listen_fd_, POLLIN, 0});
  for (const Pending& p : pending_) fds.push_back({p.fd.get(), POLLIN, 0});
  int ready = ::poll(fds.data(), fds.size(), wait_ms);
  if (ready < 0 && errno != EINTR) throw_system_error("poll", errno);
  std::optional<Connection> done;
  const auto now = Clock::now();
  // Pending connections first (their indices match fds), then new arrivals.
  std::vector<bool> drop(pending_.size(), false);
  for (size_t i = 0; i < pending_.size(); ++i) {
    bool flag = false;
    if (!done && ready > 0 && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
      done = advance(pending_[i], flag);
    } else if (now >= pending_[i].expires) {
      refuse(pending_[i], "no hello within " + std::to_string(kHandshakeTimeout.count()) + " s");
      flag = true;
    }
    drop[i] = flag;
  }
  size_t index = 0;
  std::erase_if(pending_, [&](const Pending&) { return drop[index++]; });
  if (ready > 0 && (fds[0].revents & POLLIN)) accept_new();
  return done;
}

Connection Acceptor::next(const Deadline& deadline, const std::string& what) {
  while (true) {
    if (auto c = poll(deadline.poll_ms())) return std::move(*c);
    deadline.check(what);
  }
}

}  // namespace tdm::bootstrap
