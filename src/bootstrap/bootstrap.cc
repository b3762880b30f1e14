#include "bootstrap/bootstrap.h"

#include <string>

#include "bootstrap/wire.h"
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
  boot->nonce_ = contents.nonce;
  boot->abort_ = abort;
  boot->mesh_.resize(nranks);
  Deadline deadline = Deadline::from_env(abort);

  // Listen where the root can be reached from: loopback root, loopback listener.
  const bool root_is_loopback = contents.root.to_string().rfind("127.", 0) == 0;
  SocketAddress mine = root_is_loopback ? net::loopback_address() : net::local_address();
  Fd listener = net::listen_on(mine);

  // Rendezvous: tell the root where we listen; learn where everybody listens.
  {
    Fd root = net::connect_to(contents.root, deadline, "reaching the rendezvous root");
    RootHello hello{UniqueIdContents::kMagic, contents.nonce, nranks, rank,
                    WireAddress::from(mine)};
    const std::string what = "waiting at the rendezvous for all " + std::to_string(nranks) +
                             " ranks (root " + contents.root.to_string() + ")";
    net::send_all(root.get(), as_bytes_of(hello), deadline, what);
    RootReply reply{};
    // The root times the rendezvous out itself and says which ranks are
    // missing; wait a little longer than it so that sentence reaches us.
    Deadline reply_deadline = deadline;
    reply_deadline.at += std::chrono::seconds(2);
    net::recv_all(root.get(), as_writable_bytes_of(reply), reply_deadline, what);
    if (reply.status != 0) {
      std::string text(reply.text_length, '\0');
      // The root's sentence follows its status at once, but may come after
      // our own deadline (the root's clock started later): the same grace.
      net::recv_all(root.get(), std::as_writable_bytes(std::span(text)), reply_deadline, what);
      throw_error(tdmRemoteError, "rendezvous failed: ", text);
    }
    std::vector<WireAddress> table(nranks);
    net::recv_all(root.get(), std::as_writable_bytes(std::span(table)), deadline, what);
    for (const WireAddress& w : table) boot->addresses_.push_back(w.to_address());
  }

  // Mesh: connect to higher ranks (their backlog accepts before they call
  // accept), then accept from lower ranks, so no ordering can deadlock.
  for (int peer = rank + 1; peer < nranks; ++peer) {
    Fd fd = net::connect_to(boot->addresses_[peer], deadline, "connecting to " + rank_text(peer));
    PeerHello hello{contents.nonce, rank, 0};
    net::send_all(fd.get(), as_bytes_of(hello), deadline, "greeting " + rank_text(peer));
    boot->mesh_[peer] = std::move(fd);
  }
  for (int pending = rank; pending > 0;) {
    Fd fd = net::accept_from(
        listener.get(), deadline,
        "waiting for lower ranks to connect (" + std::to_string(pending) + " missing)");
    PeerHello hello{};
    net::recv_all(fd.get(), as_writable_bytes_of(hello), deadline, "reading a peer's greeting");
    if (hello.nonce != contents.nonce || hello.rank < 0 || hello.rank >= rank ||
        boot->mesh_[hello.rank].valid()) {
      TDM_WARN("BOOT", "ignoring an unexpected connection (rank ", hello.rank, ")");
      continue;
    }
    boot->mesh_[hello.rank] = std::move(fd);
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
