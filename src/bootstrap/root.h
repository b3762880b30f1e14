// The rendezvous server behind a unique id. Ranks connect, send their own
// bootstrap address, and get back the table of all ranks' addresses.
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "bootstrap/unique_id.h"
#include "bootstrap/wire.h"

namespace tdm::bootstrap {

class RootServer {
 public:
  // Binds a listening socket (interface from TANDEM_SOCKET_IFNAME, else the
  // first non-loopback interface, else loopback; TANDEM_SOCKET_FAMILY=AF_INET
  // by default) and serves `rounds` rendezvous in a background thread, or
  // rounds < 0 for as many as come until the server is destroyed. Each round
  // gathers one job's ranks and fails (telling the ranks that came why) when
  // not all arrive within TANDEM_TIMEOUT.
  // Connections must prove the job key (wire.h); `job` null = a fresh random
  // nonce and key; launchers whose ranks cannot receive the id (torchrun
  // style) pass a nonce and key every rank can derive.
  static std::unique_ptr<RootServer> start(int rounds, const SocketAddress* bind_to = nullptr,
                                           const UniqueIdContents* job = nullptr);
  ~RootServer();
  RootServer(const RootServer&) = delete;
  RootServer& operator=(const RootServer&) = delete;

  const tdmUniqueId& id() const { return id_; }

  // Keeps a one-round server alive after its owner is gone (tdmGetUniqueId):
  // the thread ends by itself after its round or its timeout.
  static void detach(std::unique_ptr<RootServer> server);

 private:
  RootServer() = default;
  void serve(int rounds);
  void serve_rounds(int rounds);

  int listen_fd_ = -1;
  tdmUniqueId id_{};
  UniqueIdContents contents_{};
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace tdm::bootstrap
