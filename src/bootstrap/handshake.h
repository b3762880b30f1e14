// Authenticated connections between the members of one job (wire.h has the
// protocol): the connector's side as one call, the acceptor's as a server
// that runs many handshakes at once, so idle, slow or hostile connections
// cost the job nothing but a slot until their own short deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "bootstrap/socket.h"
#include "bootstrap/wire.h"

namespace tdm::bootstrap {

struct Credentials {
  JobKey key{};
  uint64_t job = 0;
};

struct Connection {
  Fd fd;
  Hello hello;  // as sent (connector) or received (acceptor)
};

// Connects to `to` before `deadline` (non-blocking connect; refused attempts
// are retried: the peer may not listen yet), proves the key with `hello`
// (rank, nranks, purpose and listen filled in by the caller) and checks the
// acceptor's proof. Throws tdmRemoteError naming `what` when the peer refuses
// or cannot prove the key, at the deadline, or on abort.
Connection connect_authenticated(const SocketAddress& to, const Credentials& credentials,
                                 Hello hello, const Deadline& deadline, const std::string& what);

class Acceptor {
 public:
  // How long one connection may take to send its hello; how many may be
  // half-open at once (beyond that the oldest is dropped).
  static constexpr std::chrono::seconds kHandshakeTimeout{10};
  static constexpr size_t kMaxPending = 256;

  // Serves the listening socket `listen_fd` (not owned) for `purpose`;
  // `owner` names the server in log lines ("the rendezvous root", "rank 3").
  Acceptor(int listen_fd, Credentials credentials, Purpose purpose, std::string owner);

  // Advances every handshake for up to `wait_ms`; returns a connection whose
  // hello proved the key, or nothing. Bad ones are closed and logged.
  std::optional<Connection> poll(int wait_ms);
  // Waits for the next authenticated connection; throws at the deadline or
  // on abort (Deadline::check with `what`).
  Connection next(const Deadline& deadline, const std::string& what);

  size_t pending() const { return pending_.size(); }
  uint64_t refused() const { return refused_; }

 private:
  struct Pending {
    Fd fd;
    Challenge challenge;
    std::array<std::byte, sizeof(Hello)> received{};
    size_t received_bytes = 0;
    Clock::time_point expires;
    std::string peer;
  };
  void accept_new();
  // Reads what `p` sent; returns its connection when the hello is complete and good.
  std::optional<Connection> advance(Pending& p, bool& drop);
  void refuse(const Pending& p, const std::string& why);

  int listen_fd_;
  Credentials credentials_;
  Purpose purpose_;
  std::string owner_;
  std::vector<Pending> pending_;
  uint64_t refused_ = 0;
};

}  // namespace tdm::bootstrap
