// Passing file descriptors between processes of one host: a Unix datagram
// socket per rank in the abstract namespace (nothing left on disk), carrying
// SCM_RIGHTS. Used to share cuMem allocations exported as POSIX FDs.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>

#include "bootstrap/socket.h"

namespace tdm::mem {

class FdPassing {
 public:
  // Binds this rank's socket; every participant must have bound before any
  // send (callers put a bootstrap barrier between).
  FdPassing(uint64_t comm_nonce, int rank);

  // Sends `fd` (duplicated into the message; the caller keeps its own) tagged
  // with `tag` to `peer`.
  void send(int peer, uint64_t tag, int fd, const Deadline& deadline);
  // The fd `peer` sent with `tag` (messages of later tags are kept for later).
  Fd receive(int peer, uint64_t tag, const Deadline& deadline);

 private:
  std::string address_of(int rank) const;
  uint64_t nonce_;
  int rank_;
  Fd socket_;
  std::map<std::pair<int, uint64_t>, Fd> early_;  // (peer, tag) received ahead of time
};

}  // namespace tdm::mem
