// The out-of-band network every communicator starts from: rendezvous through
// the root, then a full mesh of TCP connections between ranks, used for
// allgather/barrier/send/recv during setup and to notice peers that die.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bootstrap/handshake.h"
#include "bootstrap/socket.h"
#include "bootstrap/unique_id.h"

namespace tdm::bootstrap {

class Bootstrap {
 public:
  // Collective over the nranks processes (or threads) that got the same id.
  // `abort` (may be null) interrupts any wait.
  static std::unique_ptr<Bootstrap> connect(const tdmUniqueId& id, int rank, int nranks,
                                            const std::atomic<bool>* abort);

  int rank() const { return rank_; }
  int nranks() const { return nranks_; }
  uint64_t nonce() const { return credentials_.job; }
  // What every further connection of this job proves it holds (handshake.h).
  const Credentials& credentials() const { return credentials_; }
  const SocketAddress& address_of(int peer) const { return addresses_[peer]; }

  // Framed point-to-point messages; the receiver must expect the same size.
  void send(int peer, std::span<const std::byte> data);
  void recv(int peer, std::span<std::byte> data);
  // all.size() == nranks * mine.size(); rank r's bytes land at r * mine.size().
  void allgather(std::span<const std::byte> mine, std::span<std::byte> all);
  void barrier();

  template <typename T>
  std::vector<T> allgather_value(const T& mine) {
    std::vector<T> all(static_cast<size_t>(nranks_));
    allgather(as_bytes_of(mine), std::as_writable_bytes(std::span(all)));
    return all;
  }

  // True when peer's process is gone (its end of the mesh connection closed).
  bool peer_closed(int peer) const;
  // True when peer is gone or failed because another rank went away (it sent
  // a death notice, see peer_went_away).
  bool peer_failed(int peer) const;
  // A peer's process went away while this rank waited on `suspect` (its
  // connection closed, or it sent a death notice). Throws tdmRemoteError
  // naming the rank that died first: `suspect`, unless `suspect` failed
  // because of an earlier death and said so in its notice. Before that,
  // tells every other peer (a notice frame on the mesh, best effort, never
  // blocking), so that ranks waiting on this one blame the same rank.
  [[noreturn]] void peer_went_away(int suspect, const std::string& during);
  Deadline deadline() const { return Deadline::from_env(abort_); }
  const std::atomic<bool>* abort_flag() const { return abort_; }

 private:
  Bootstrap() = default;
  int fd_of(int peer) const;
  // The rank named by a death notice waiting on peer's connection, or -1.
  int notice_from(int peer) const;
  int first_death(int suspect) const;
  // Runs a mesh operation with `peers`; a peer gone meanwhile becomes
  // peer_went_away.
  template <typename F>
  void with_peers(std::initializer_list<int> peers, const std::string& what, F&& operation);

  int rank_ = 0;
  int nranks_ = 1;
  Credentials credentials_;
  const std::atomic<bool>* abort_ = nullptr;
  std::vector<SocketAddress> addresses_;
  std::vector<Fd> mesh_;  // mesh_[peer]; invalid for self
  bool notices_sent_ = false;
};

}  // namespace tdm::bootstrap
