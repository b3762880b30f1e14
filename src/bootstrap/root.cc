#include "bootstrap/root.h"

#include <poll.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

#include "bootstrap/socket.h"
#include "bootstrap/wire.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::bootstrap {

namespace {

uint64_t random_nonce() {
  std::random_device device;
  uint64_t value = (uint64_t(device()) << 32) ^ device() ^ (uint64_t(getpid()) << 16);
  return value == 0 ? 1 : value;
}

struct Arrival {
  Fd fd;
  RootHello hello;
};

void reply_error(int fd, const std::string& text) {
  RootReply reply{1, static_cast<uint32_t>(text.size())};
  Deadline soon = Deadline::after_seconds(1.0);
  try {
    net::send_all(fd, as_bytes_of(reply), soon, "answering a rank");
    net::send_all(fd, std::as_bytes(std::span(text)), soon, "answering a rank");
  } catch (const Error&) {
    // The rank left already; nothing more to tell it.
  }
}

}  // namespace

std::unique_ptr<RootServer> RootServer::start(int rounds, const SocketAddress* bind_to,
                                              uint64_t nonce) {
  std::unique_ptr<RootServer> server(new RootServer());
  SocketAddress addr = bind_to ? *bind_to : net::local_address();
  Fd listener = net::listen_on(addr);
  server->listen_fd_ = listener.release();
  server->contents_.nonce = nonce != 0 ? nonce : random_nonce();
  server->contents_.root = addr;
  server->id_ = encode(server->contents_);
  TDM_INFO("BOOT", "rendezvous root listening on ", addr.to_string());
  server->thread_ = std::thread([s = server.get(), rounds] { s->serve(rounds); });
  return server;
}

RootServer::~RootServer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

namespace {
// One-round servers handed over by tdmGetUniqueId; finished ones are freed when
// the next is added, the rest at exit (their threads stop within 100 ms).
struct DetachedServers {
  std::mutex mutex;
  std::vector<std::unique_ptr<RootServer>> servers;
};
DetachedServers& detached() {
  static DetachedServers registry;
  return registry;
}
}  // namespace

void RootServer::detach(std::unique_ptr<RootServer> server) {
  DetachedServers& registry = detached();
  std::lock_guard lock(registry.mutex);
  std::erase_if(registry.servers, [](const auto& s) { return s->done_.load(); });
  registry.servers.push_back(std::move(server));
}

void RootServer::serve(int rounds) {
  serve_rounds(rounds);
  // Free the port now: a later rendezvous may want it (torchrun-style reuse).
  ::close(std::exchange(listen_fd_, -1));
  done_.store(true);
}

void RootServer::serve_rounds(int rounds) {
  const double timeout = [] {
    try {
      return env::timeout_seconds();
    } catch (const Error&) {
      return 1800.0;
    }
  }();
  const bool one_shot = rounds >= 0;
  Deadline overall = Deadline::after_seconds(timeout, &stop_);
  for (int round = 0; rounds < 0 || round < rounds; ++round) {
    std::map<int, Arrival> arrivals;
    int nranks = -1;
    Deadline deadline = overall;
    bool failed = false;
    std::string failure;
    while (!stop_.load() && (nranks < 0 || static_cast<int>(arrivals.size()) < nranks)) {
      pollfd p{listen_fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, 100);
      bool started = nranks > 0 || one_shot;
      if (ready <= 0) {
        if (started && deadline.expired()) {
          std::ostringstream why;
          why << "only " << arrivals.size() << " of " << nranks
              << " ranks reached the rendezvous within TANDEM_TIMEOUT=" << timeout
              << " s; missing ranks:";
          for (int r = 0, shown = 0; r < nranks && shown < 16; ++r)
            if (!arrivals.count(r)) why << ' ' << r, ++shown;
          failure = why.str();
          failed = true;
          break;
        }
        continue;
      }
      Fd fd(::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC));
      if (!fd.valid()) continue;
      RootHello hello{};
      try {
        net::recv_all(fd.get(), as_writable_bytes_of(hello), Deadline::after_seconds(5.0),
                      "reading a rank's hello");
      } catch (const Error&) {
        continue;  // not a Tandem rank, or it died; ignore it
      }
      std::string problem;
      if (hello.magic != UniqueIdContents::kMagic || hello.nonce != contents_.nonce)
        problem = "this rank's unique id belongs to another job";
      else if (hello.nranks <= 0 || (nranks > 0 && hello.nranks != nranks))
        problem = "ranks disagree on nranks (" + std::to_string(hello.nranks) + " vs " +
                  std::to_string(nranks) + ")";
      else if (hello.rank < 0 || hello.rank >= hello.nranks)
        problem = "rank " + std::to_string(hello.rank) + " is out of range for nranks " +
                  std::to_string(hello.nranks);
      else if (arrivals.count(hello.rank))
        problem = "two processes claim rank " + std::to_string(hello.rank);
      if (!problem.empty()) {
        reply_error(fd.get(), problem);
        continue;
      }
      if (nranks < 0) {
        nranks = hello.nranks;
        if (!one_shot) deadline = Deadline::after_seconds(timeout, &stop_);
      }
      arrivals.emplace(hello.rank, Arrival{std::move(fd), hello});
    }
    if (stop_.load() && !failed) return;
    if (failed) {
      TDM_WARN("BOOT", failure);
      for (auto& [rank, arrival] : arrivals) reply_error(arrival.fd.get(), failure);
      if (one_shot) return;
      continue;
    }
    std::vector<WireAddress> table(nranks);
    for (auto& [rank, arrival] : arrivals) table[rank] = arrival.hello.listen;
    RootReply ok{0, 0};
    for (auto& [rank, arrival] : arrivals) {
      try {
        Deadline d = Deadline::after_seconds(timeout, &stop_);
        net::send_all(arrival.fd.get(), as_bytes_of(ok), d, "sending the rank table");
        net::send_all(arrival.fd.get(), std::as_bytes(std::span(table)), d,
                      "sending the rank table");
      } catch (const Error& e) {
        TDM_WARN("BOOT", "rank ", rank, " left the rendezvous early: ", e.what());
      }
    }
    TDM_INFO("BOOT", "rendezvous round ", round, " done with ", nranks, " ranks");
  }
}

}  // namespace tdm::bootstrap
