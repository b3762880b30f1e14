#include "bootstrap/root.h"

#include <poll.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

#include "bootstrap/handshake.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::bootstrap {

namespace {

// Best effort: a rank that left needs no answer.
void send_reply(int fd, const JobKey& key, const Hello& hello, int32_t status,
                std::span<const std::byte> payload, const Deadline& deadline) {
  ReplyHeader header{status, static_cast<uint32_t>(payload.size())};
  crypto::Digest mac = reply_mac(key, hello, header, payload);
  const std::string what = "answering rank " + std::to_string(hello.rank);
  net::send_all(fd, as_bytes_of(header), deadline, what);
  net::send_all(fd, payload, deadline, what);
  net::send_all(fd, std::as_bytes(std::span(mac)), deadline, what);
}

void reply_error(const Connection& c, const JobKey& key, const std::string& text) {
  std::string_view clipped = std::string_view(text).substr(0, kMaxReplyText);
  try {
    send_reply(c.fd.get(), key, c.hello, 1, std::as_bytes(std::span(clipped)),
               Deadline::after_seconds(1.0));
  } catch (const Error&) {
    // The rank left already; nothing more to tell it.
  }
}

}  // namespace

std::unique_ptr<RootServer> RootServer::start(int rounds, const SocketAddress* bind_to,
                                              const UniqueIdContents* job) {
  std::unique_ptr<RootServer> server(new RootServer());
  SocketAddress addr = bind_to ? *bind_to : net::local_address();
  Fd listener = net::listen_on(addr);
  net::set_nonblocking(listener.get(), true);  // the acceptor drains the backlog
  server->listen_fd_ = listener.release();
  server->contents_ = job ? *job : new_job(addr);
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
  const JobKey& key = contents_.key;
  Acceptor acceptor(listen_fd_, Credentials{key, contents_.nonce}, Purpose::kRendezvous,
                    "the rendezvous root");
  Deadline overall = Deadline::after_seconds(timeout, &stop_);
  for (int round = 0; rounds < 0 || round < rounds; ++round) {
    std::map<int, Connection> arrivals;
    int nranks = -1;
    Deadline deadline = overall;
    bool failed = false;
    std::string failure;
    while (!stop_.load() && (nranks < 0 || static_cast<int>(arrivals.size()) < nranks)) {
      std::optional<Connection> arrival = acceptor.poll(100);
      const bool started = nranks > 0 || one_shot;
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
      if (!arrival) continue;
      const Hello& hello = arrival->hello;
      std::string problem;
      if (nranks > 0 && hello.nranks != nranks)
        problem = "ranks disagree on nranks (" + std::to_string(hello.nranks) + " vs " +
                  std::to_string(nranks) + ")";
      else if (arrivals.count(hello.rank))
        problem = "two processes claim rank " + std::to_string(hello.rank);
      if (!problem.empty()) {
        TDM_WARN("BOOT", "rendezvous refused a rank: ", problem);
        reply_error(*arrival, key, problem);
        continue;
      }
      if (nranks < 0) {
        nranks = hello.nranks;
        if (!one_shot) deadline = Deadline::after_seconds(timeout, &stop_);
      }
      const int rank = hello.rank;
      arrivals.emplace(rank, std::move(*arrival));
    }
    if (stop_.load() && !failed) return;
    if (failed) {
      TDM_WARN("BOOT", failure);
      for (auto& [rank, arrival] : arrivals) reply_error(arrival, key, failure);
      if (one_shot) return;
      continue;
    }
    std::vector<WireAddress> table(nranks);
    for (auto& [rank, arrival] : arrivals) table[rank] = arrival.hello.listen;
    for (auto& [rank, arrival] : arrivals) {
      try {
        send_reply(arrival.fd.get(), key, arrival.hello, 0, std::as_bytes(std::span(table)),
                   Deadline::after_seconds(timeout, &stop_));
      } catch (const Error& e) {
        TDM_WARN("BOOT", "rank ", rank, " left the rendezvous early: ", e.what());
      }
    }
    TDM_INFO("BOOT", "rendezvous round ", round, " done with ", nranks, " ranks");
  }
}

}  // namespace tdm::bootstrap
