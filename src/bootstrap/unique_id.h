// What a tdmUniqueId carries: the root's TCP address, a random nonce that
// names the job (in shared-memory segment names and logs), and the job key:
// 256 random bits every connection of the job proves it holds (wire.h), so
// the id is the job's secret (docs/threat-model.md).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

#include "tandem/tandem.h"

namespace tdm::bootstrap {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string to_string() const;
};

using JobKey = std::array<uint8_t, 32>;

struct UniqueIdContents {
  static constexpr uint64_t kMagic = 0x3230304449444d54ULL;  // "TDMID002"
  uint64_t magic = kMagic;
  uint64_t nonce = 0;
  SocketAddress root;
  JobKey key{};
};

// A fresh job: random nonce and key from the kernel's generator.
UniqueIdContents new_job(const SocketAddress& root);

tdmUniqueId encode(const UniqueIdContents& contents);
// Throws tdmInvalidArgument when the bytes are not a Tandem unique id.
UniqueIdContents decode(const tdmUniqueId& id);

// Hex text form used in the environment (TANDEM_UNIQUE_ID).
std::string to_hex(const tdmUniqueId& id);
tdmUniqueId from_hex(const std::string& hex);

}  // namespace tdm::bootstrap
