#include "bootstrap/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "util/env.h"
#include "util/error.h"

namespace tdm {

Deadline Deadline::after_seconds(double seconds, const std::atomic<bool>* abort) {
  // Saturating: converting a double past int64 nanoseconds (~292 years) is
  // undefined. Beyond 1e9 s (31 years) a deadline is "never"; that also keeps
  // now (uptime) + span far from overflowing. NaN and <= 0 are due at once.
  constexpr double kNever = 1e9;
  if (!(seconds > 0)) return Deadline{Clock::now(), abort};
  if (seconds >= kNever) return Deadline{Clock::time_point::max(), abort};
  auto span = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  return Deadline{Clock::now() + span, abort};
}

Deadline Deadline::from_env(const std::atomic<bool>* abort) {
  return after_seconds(env::timeout_seconds(), abort);
}

int Deadline::poll_ms(int cap) const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, cap));
}

void Deadline::check(const std::string& what) const {
  if (aborted()) throw_error(tdmInvalidUsage, "communicator aborted while ", what);
  if (expired())
    throw_error(tdmRemoteError, "timed out after TANDEM_TIMEOUT=", env::timeout_seconds(),
                " s while ", what, " (a peer is missing, dead or hung)");
}

namespace net {

using bootstrap::SocketAddress;

SocketAddress loopback_address() {
  SocketAddress addr;
  auto* in = reinterpret_cast<sockaddr_in*>(&addr.storage);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.length = sizeof(sockaddr_in);
  return addr;
}

SocketAddress local_address() {
  auto wanted = env::get("TANDEM_SOCKET_IFNAME");
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return loopback_address();
  SocketAddress found;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    if (!(it->ifa_flags & IFF_UP)) continue;
    bool loopback = (it->ifa_flags & IFF_LOOPBACK) != 0;
    if (wanted ? std::string_view(it->ifa_name) != *wanted : loopback) continue;
    std::memcpy(&found.storage, it->ifa_addr, sizeof(sockaddr_in));
    found.length = sizeof(sockaddr_in);
    break;
  }
  freeifaddrs(list);
  if (found.length == 0) {
    if (wanted)
      throw_error(tdmInvalidArgument, "TANDEM_SOCKET_IFNAME=", *wanted,
                  " names no IPv4 interface that is up");
    return loopback_address();
  }
  return found;
}

Fd listen_on(SocketAddress& addr) {
  Fd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_system_error("socket", errno);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.length) != 0)
    throw_system_error("bind to " + addr.to_string(), errno);
  if (::listen(fd.get(), 16384) != 0) throw_system_error("listen", errno);
  socklen_t len = sizeof(addr.storage);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr.storage), &len);
  addr.length = len;
  return fd;
}

namespace {
// Errors after which a later attempt may succeed: nobody listens yet, or the
// network dropped the attempt.
bool retryable(int err) {
  return err == ECONNREFUSED || err == ETIMEDOUT || err == ENETUNREACH || err == EAGAIN ||
         err == ECONNRESET || err == EHOSTUNREACH;
}
}  // namespace

Fd connect_to(const SocketAddress& addr, const Deadline& deadline, const std::string& what) {
  const std::string doing = "connecting to " + addr.to_string() + " (" + what + ")";
  auto backoff = std::chrono::milliseconds(1);
  while (true) {
    // Non-blocking, so that a host that drops SYNs (firewalled, dead, or a
    // full accept queue) costs the job's deadline, not the kernel's minutes.
    Fd fd(::socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) throw_system_error("socket", errno);
    int err = 0;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.length) != 0) {
      err = errno;
      if (err == EINPROGRESS || err == EINTR) {
        while (true) {
          pollfd p{fd.get(), POLLOUT, 0};
          int ready = ::poll(&p, 1, deadline.poll_ms());
          if (ready < 0 && errno != EINTR) throw_system_error("poll", errno);
          if (ready > 0) break;
          deadline.check(doing);
        }
        socklen_t len = sizeof(err);
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err == 0) {
      set_nonblocking(fd.get(), false);
      set_nodelay(fd.get());
      return fd;
    }
    if (!retryable(err)) throw_system_error(doing, err);
    deadline.check(doing);
    std::this_thread::sleep_for(std::min<Clock::duration>(
        backoff, std::max<Clock::duration>(deadline.at - Clock::now(), Clock::duration(0))));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
  }
}

Fd accept_from(int listen_fd, const Deadline& deadline, const std::string& what) {
  while (true) {
    pollfd p{listen_fd, POLLIN, 0};
    int ready = ::poll(&p, 1, deadline.poll_ms());
    if (ready < 0 && errno != EINTR) throw_system_error("poll", errno);
    if (ready > 0) {
      Fd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (fd.valid()) {
        set_nodelay(fd.get());
        return fd;
      }
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        throw_system_error("accept", errno);
    }
    deadline.check(what);
  }
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

namespace {

[[noreturn]] void peer_gone(const std::string& what, int err) {
  if (err == 0)
    throw_error(tdmRemoteError, "peer closed the connection while ", what,
                " (the remote process exited or aborted)");
  throw_error(tdmRemoteError, "connection failed while ", what, ": ", std::strerror(err));
}

// Moves as many bytes as the socket takes now; returns false when it would block.
bool pump_send(int fd, std::span<const std::byte>& data, const std::string& what) {
  ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n > 0) {
    data = data.subspan(static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  peer_gone(what, n < 0 ? errno : 0);
}

bool pump_recv(int fd, std::span<std::byte>& data, const std::string& what) {
  ssize_t n = ::recv(fd, data.data(), data.size(), MSG_DONTWAIT);
  if (n > 0) {
    data = data.subspan(static_cast<size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  peer_gone(what, n < 0 ? errno : 0);
}

}  // namespace

void send_recv(int send_fd, std::span<const std::byte> send, int recv_fd, std::span<std::byte> recv,
               const Deadline& deadline, const std::string& what) {
  while (!send.empty() || !recv.empty()) {
    bool moved = false;
    if (!send.empty()) moved |= pump_send(send_fd, send, what);
    if (!recv.empty()) moved |= pump_recv(recv_fd, recv, what);
    if (moved) continue;
    pollfd fds[2];
    int count = 0;
    if (!send.empty()) fds[count++] = {send_fd, POLLOUT, 0};
    if (!recv.empty()) fds[count++] = {recv_fd, POLLIN, 0};
    int ready = ::poll(fds, count, deadline.poll_ms());
    if (ready < 0 && errno != EINTR) throw_system_error("poll", errno);
    if (ready == 0) deadline.check(what);
    if (deadline.aborted()) deadline.check(what);
  }
}

void send_all(int fd, std::span<const std::byte> data, const Deadline& deadline,
              const std::string& what) {
  send_recv(fd, data, -1, {}, deadline, what);
}

void recv_all(int fd, std::span<std::byte> data, const Deadline& deadline,
              const std::string& what) {
  send_recv(-1, {}, fd, data, deadline, what);
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace net
}  // namespace tdm
