// What a tdmUniqueId carries: the root's TCP address and a random nonce that
// names the job (used in shared-memory segment names and connection hellos).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "tandem/tandem.h"

namespace tdm::bootstrap {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string to_string() const;
};

struct UniqueIdContents {
  static constexpr uint64_t kMagic = 0x3130304449444d54ULL;  // "TDMID001"
  uint64_t magic = kMagic;
  uint64_t nonce = 0;
  SocketAddress root;
};

tdmUniqueId encode(const UniqueIdContents& contents);
// Throws tdmInvalidArgument when the bytes are not a Tandem unique id.
UniqueIdContents decode(const tdmUniqueId& id);

// Hex text form used in the environment (TANDEM_UNIQUE_ID).
std::string to_hex(const tdmUniqueId& id);
tdmUniqueId from_hex(const std::string& hex);

}  // namespace tdm::bootstrap
