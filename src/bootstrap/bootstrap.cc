#include "bootstrap/bootstrap.h"

#include <string>

#include "bootstrap/handshake.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::bootstrap {

namespace {
std::string rank_text(int peer) { return "rank " + std::to_string(peer); }
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
  net::send_all(fd_of(peer), as_bytes_of(size), d, "sending to " + rank_text(peer));
  net::send_all(fd_of(peer), data, d, "sending to " + rank_text(peer));
}

void Bootstrap::recv(int peer, std::span<std::byte> data) {
  uint64_t size = 0;
  Deadline d = deadline();
  net::recv_all(fd_of(peer), as_writable_bytes_of(size), d, "receiving from " + rank_text(peer));
  if (size != data.size())
    throw_error(tdmInternalError, "bootstrap message from ", rank_text(peer), " has ", size,
                " bytes, expected ", data.size(), " (ranks disagree on the call sequence)");
  net::recv_all(fd_of(peer), data, d, "receiving from " + rank_text(peer));
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
    net::send_recv(fd_of(next), all.subspan(block * send_block, block), fd_of(prev),
                   all.subspan(block * recv_block, block), d,
                   "allgather with ranks " + std::to_string(prev) + " and " + std::to_string(next));
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

}  // namespace tdm::bootstrap
