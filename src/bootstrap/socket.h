// TCP socket helpers shared by the bootstrap and the socket transport:
// listen/connect/accept, and blocking transfers that give up at a
// deadline, on abort, or when the peer goes away.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "bootstrap/unique_id.h"
#include "util/fd.h"

namespace tdm {

using Clock = std::chrono::steady_clock;

// When to give up waiting on peers, and the flag tdmCommAbort raises.
struct Deadline {
  Clock::time_point at;
  const std::atomic<bool>* abort = nullptr;

  static Deadline after_seconds(double seconds, const std::atomic<bool>* abort = nullptr);
  static Deadline from_env(const std::atomic<bool>* abort = nullptr);  // TANDEM_TIMEOUT
  bool expired() const { return Clock::now() >= at; }
  bool aborted() const { return abort != nullptr && abort->load(std::memory_order_relaxed); }
  // Milliseconds left, capped at `cap` so waits wake up to check the abort flag.
  int poll_ms(int cap = 100) const;
  // Throws tdmRemoteError (timeout, mentioning `what`) or tdmInvalidUsage (aborted).
  void check(const std::string& what) const;
};

namespace net {

// The address peers should use to reach this host: TANDEM_SOCKET_IFNAME's
// address, else the first non-loopback IPv4 interface, else 127.0.0.1.
bootstrap::SocketAddress local_address();
bootstrap::SocketAddress loopback_address();

// Listening socket bound to `addr` (port 0 = any); `addr` is updated with the bound port.
Fd listen_on(bootstrap::SocketAddress& addr);
// Connects, retrying refused connections until the deadline (the peer may not listen yet).
Fd connect_to(const bootstrap::SocketAddress& addr, const Deadline& deadline,
              const std::string& what);
// Accepts one connection, waiting until the deadline.
Fd accept_from(int listen_fd, const Deadline& deadline, const std::string& what);

void set_nonblocking(int fd, bool on);
void set_nodelay(int fd);

// Blocking transfers built on poll(); `what` names the peer in error messages.
void send_all(int fd, std::span<const std::byte> data, const Deadline& deadline,
              const std::string& what);
void recv_all(int fd, std::span<std::byte> data, const Deadline& deadline, const std::string& what);
// Sends and receives at the same time (so two peers exchanging large messages never deadlock).
void send_recv(int send_fd, std::span<const std::byte> send, int recv_fd, std::span<std::byte> recv,
               const Deadline& deadline, const std::string& what);

// True when the peer has closed the connection or it failed (data may still be pending).
bool peer_closed(int fd);

}  // namespace net

template <typename T>
std::span<const std::byte> as_bytes_of(const T& value) {
  return std::as_bytes(std::span<const T>(&value, 1));
}
template <typename T>
std::span<std::byte> as_writable_bytes_of(T& value) {
  return std::as_writable_bytes(std::span<T>(&value, 1));
}

}  // namespace tdm
