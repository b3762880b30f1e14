#include "bootstrap/bootstrap.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <string>

#include "bootstrap/handshake.h"
#include "bootstrap/wire.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::bootstrap {

namespace {
std::string rank_text(int peer) { return "rank " + std::to_string(peer); }

// A death notice: a frame header no real frame has (sizes stay far below
// 2^56), the dead rank in the low 32 bits. Sent after any frames of the
// operations that rank completed, so a reader of the stream finds it where
// the next frame would be; the connection carries nothing after it.
constexpr uint64_t kNoticeMask = 0xffff'ffff'0000'0000ULL;
constexpr uint64_t kNotice = 0x7464'6d64'0000'0000ULL;  // "tdmd"
bool is_notice(uint64_t header) { return (header & kNoticeMask) == kNotice; }
int noticed_rank(uint64_t header) { return static_cast<int>(header & 0xffff'ffffULL); }

[[noreturn]] void throw_went_away(int victim, const std::string& during) {
  throw PeerGoneError(victim, /*resolved=*/true,
                      rank_text(victim) + " went away (process exited or aborted) " + during);
}
}  // namespace

std::unique_ptr<Bootstrap> Bootstrap::connect(const tdmUniqueId& id, int rank, int nranks,
                                              const std::atomic<bool>* abort) {
  UniqueIdContents contents = decode(id);
  std::unique_ptr<Bootstrap> boot(new Bootstrap());
  boot->rank_ = rank;
  boot->nranks_ = nranks;
  boot->credentials_ = Credentials{contents.key, contents.nonce};
  boot->abort_ = abort;
  boot->mesh_.resize(nranks);
  Deadline deadline = Deadline::from_env(abort);

  // Listen where the root can be reached from: loopback root, loopback listener.
  const bool root_is_loopback = contents.root.to_string().rfind("127.", 0) == 0;
  SocketAddress mine = root_is_loopback ? net::loopback_address() : net::local_address();
  Fd listener = net::listen_on(mine);

  net::set_nonblocking(listener.get(), true);  // the acceptor drains the backlog
  const Credentials& credentials = boot->credentials_;

  // Rendezvous: tell the root where we listen; learn where everybody listens.
  {
    Hello hello;
    hello.rank = rank;
    hello.nranks = nranks;
    hello.purpose = static_cast<int32_t>(Purpose::kRendezvous);
    hello.listen = WireAddress::from(mine);
    Connection root = connect_authenticated(contents.root, credentials, hello, deadline,
                                            "reaching the rendezvous root");
    const std::string what = "waiting at the rendezvous for all " + std::to_string(nranks) +
                             " ranks (root " + contents.root.to_string() + ")";
    // The root times the rendezvous out itself and says which ranks are
    // missing; wait a little longer than it so that sentence reaches us (it
    // may come after our own deadline: the root's clock started later).
    Deadline reply_deadline = deadline;
    reply_deadline.at += std::chrono::seconds(2);
    ReplyHeader header{};
    net::recv_all(root.fd.get(), as_writable_bytes_of(header), reply_deadline, what);
    // Sized from the header only after it is checked against what a reply
    // to nranks ranks can hold.
    check_reply_header(header, nranks);
    std::vector<std::byte> payload(header.length);
    crypto::Digest mac{};
    net::recv_all(root.fd.get(), payload, reply_deadline, what);
    net::recv_all(root.fd.get(), std::as_writable_bytes(std::span(mac)), reply_deadline, what);
    boot->addresses_ = decode_root_reply(header, payload, std::as_bytes(std::span(mac)),
                                         contents.key, root.hello, nranks);
  }

  // Mesh: connect to higher ranks, then accept from lower ranks. A connector
  // waits for the acceptor's challenge, so rank r's connects finish once the
  // ranks above it reach their accept loop: a chain that ends at the highest
  // rank, which only accepts.
  for (int peer = rank + 1; peer < nranks; ++peer) {
    Hello hello;
    hello.rank = rank;
    hello.nranks = nranks;
    hello.purpose = static_cast<int32_t>(Purpose::kMesh);
    boot->mesh_[peer] = connect_authenticated(boot->addresses_[peer], credentials, hello, deadline,
                                              "connecting to " + rank_text(peer))
                            .fd;
  }
  Acceptor acceptor(listener.get(), credentials, Purpose::kMesh, rank_text(rank));
  for (int pending = rank; pending > 0;) {
    Connection c = acceptor.next(
        deadline, "waiting for lower ranks to connect (" + std::to_string(pending) + " missing)");
    const int peer = c.hello.rank;
    if (c.hello.nranks != nranks || peer >= rank || boot->mesh_[peer].valid()) {
      TDM_WARN("BOOT", "rank ", rank, " ignores a mesh connection claiming rank ", peer, " of ",
               c.hello.nranks);
      continue;
    }
    boot->mesh_[peer] = std::move(c.fd);
    --pending;
  }
  TDM_INFO("BOOT", "rank ", rank, "/", nranks, " bootstrap mesh ready");
  return boot;
}

int Bootstrap::fd_of(int peer) const {
  if (peer < 0 || peer >= nranks_ || peer == rank_)
    throw_error(tdmInternalError, "bootstrap has no connection to rank ", peer);
  return mesh_[peer].get();
}

void Bootstrap::send(int peer, std::span<const std::byte> data) {
  uint64_t size = data.size();
  Deadline d = deadline();
  const std::string what = "sending to " + rank_text(peer);
  with_peers({peer}, what, [&] {
    net::send_all(fd_of(peer), as_bytes_of(size), d, what);
    net::send_all(fd_of(peer), data, d, what);
  });
}

void Bootstrap::recv(int peer, std::span<std::byte> data) {
  uint64_t size = 0;
  Deadline d = deadline();
  const std::string what = "receiving from " + rank_text(peer);
  with_peers({peer}, what, [&] {
    net::recv_all(fd_of(peer), as_writable_bytes_of(size), d, what);
    if (is_notice(size)) {
      // The peer failed because of this rank's death: pass the word on.
      const int victim = noticed_rank(size);
      if (!notices_sent_) peer_went_away(victim, "while " + what);
      throw_went_away(victim, "while " + what);
    }
    if (size != data.size())
      throw_error(tdmInternalError, "bootstrap message from ", rank_text(peer), " has ", size,
                  " bytes, expected ", data.size(), " (ranks disagree on the call sequence)");
    net::recv_all(fd_of(peer), data, d, what);
  });
}

void Bootstrap::allgather(std::span<const std::byte> mine, std::span<std::byte> all) {
  const size_t block = mine.size();
  if (all.size() != block * nranks_)
    throw_error(tdmInternalError, "bootstrap allgather buffer has the wrong size");
  std::copy(mine.begin(), mine.end(), all.begin() + block * rank_);
  if (nranks_ == 1) return;
  // Ring: in step s, forward the block of rank (rank - s) and receive (rank - s - 1).
  const int next = (rank_ + 1) % nranks_, prev = (rank_ + nranks_ - 1) % nranks_;
  Deadline d = deadline();
  for (int step = 0; step < nranks_ - 1; ++step) {
    int send_block = (rank_ - step + nranks_) % nranks_;
    int recv_block = (rank_ - step - 1 + nranks_) % nranks_;
    const std::string what =
        "allgather with ranks " + std::to_string(prev) + " and " + std::to_string(next);
    with_peers({prev, next}, what, [&] {
      net::send_recv(fd_of(next), all.subspan(block * send_block, block), fd_of(prev),
                     all.subspan(block * recv_block, block), d, what);
    });
  }
}

void Bootstrap::barrier() {
  std::byte token{1};
  std::vector<std::byte> all(nranks_);
  allgather(std::span(&token, 1), all);
}

bool Bootstrap::peer_closed(int peer) const {
  if (peer == rank_ || peer < 0 || peer >= nranks_) return false;
  return net::peer_closed(mesh_[peer].get());
}

bool Bootstrap::peer_failed(int peer) const {
  if (peer == rank_ || peer < 0 || peer >= nranks_) return false;
  return peer_closed(peer) || notice_from(peer) >= 0;
}

int Bootstrap::notice_from(int peer) const {
  // Look without reading: frames of a later mesh operation may come first
  // (a peer ahead of us), and they stay for the recv that expects them.
  std::array<std::byte, 4096> seen;
  ssize_t n = ::recv(mesh_[peer].get(), seen.data(), seen.size(), MSG_PEEK | MSG_DONTWAIT);
  for (size_t at = 0; n > 0 && at + sizeof(uint64_t) <= static_cast<size_t>(n);) {
    uint64_t header = 0;
    std::memcpy(&header, seen.data() + at, sizeof header);
    if (is_notice(header)) return noticed_rank(header);
    if (header > seen.size()) break;
    at += sizeof header + header;
  }
  return -1;
}

int Bootstrap::first_death(int suspect) const {
  // The suspect's notice, if it sent one, precedes its close on the same
  // connection: wait (briefly: its process is on its way out) until one of
  // them shows, so that the answer does not depend on which socket of the
  // suspect's the kernel closed first.
  using Clock = std::chrono::steady_clock;
  const auto limit =
      Clock::now() + std::chrono::duration<double>(std::min(2.0, env::timeout_seconds()));
  while (true) {
    if (const int noticed = notice_from(suspect); noticed >= 0) return noticed;
    if (peer_closed(suspect)) {
      const int noticed = notice_from(suspect);  // sent just before the close
      return noticed >= 0 ? noticed : suspect;
    }
    if (Clock::now() > limit) return suspect;
    pollfd p{mesh_[suspect].get(), POLLIN | POLLRDHUP, 0};
    ::poll(&p, 1, 10);
  }
}

void Bootstrap::peer_went_away(int suspect, const std::string& during) {
  const int victim = first_death(suspect);
  if (!notices_sent_) {
    notices_sent_ = true;
    const uint64_t notice = kNotice | static_cast<uint32_t>(victim);
    for (int peer = 0; peer < nranks_; ++peer) {
      if (peer == rank_ || peer == victim || peer_closed(peer)) continue;
      // Best effort: 8 bytes fit any socket buffer but a full one, and a rank
      // that misses the notice still sees this one's connection close.
      (void)::send(mesh_[peer].get(), &notice, sizeof notice, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  throw_went_away(victim, during);
}

template <typename F>
void Bootstrap::with_peers(std::initializer_list<int> peers, const std::string& what,
                           F&& operation) {
  try {
    operation();
  } catch (const PeerGoneError& e) {
    if (e.resolved()) throw;
    peer_went_away(e.rank(), "while " + what);
  } catch (const Error& e) {
    if (e.code() != tdmRemoteError) throw;
    for (int peer : peers)
      if (peer_failed(peer)) peer_went_away(peer, "while " + what);
    throw;
  }
}

}  // namespace tdm::bootstrap
