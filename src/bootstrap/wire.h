// Fixed-size messages of the rendezvous protocol between ranks and the root.
#pragma once

#include <cstdint>
#include <cstring>

#include "bootstrap/unique_id.h"

namespace tdm::bootstrap {

struct WireAddress {
  uint32_t length = 0;
  uint8_t bytes[sizeof(sockaddr_in6)] = {};

  static WireAddress from(const SocketAddress& addr) {
    WireAddress w;
    w.length = static_cast<uint32_t>(addr.length);
    std::memcpy(w.bytes, &addr.storage, addr.length);
    return w;
  }
  SocketAddress to_address() const {
    SocketAddress addr;
    addr.length = length;
    std::memcpy(&addr.storage, bytes, length);
    return addr;
  }
};

struct RootHello {
  uint64_t magic;
  uint64_t nonce;
  int32_t nranks;
  int32_t rank;
  WireAddress listen;  // where this rank accepts bootstrap connections
};

// Root's answer: status 0 then nranks WireAddress, or non-zero then a text.
struct RootReply {
  int32_t status;
  uint32_t text_length;
};

// First message on every mesh connection, so the acceptor knows who called.
struct PeerHello {
  uint64_t nonce;
  int32_t rank;
  int32_t purpose;  // 0 = bootstrap mesh, 1 = socket transport data
};

}  // namespace tdm::bootstrap
