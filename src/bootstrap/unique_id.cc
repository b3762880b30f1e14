#include "bootstrap/unique_id.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "util/crypto.h"
#include "util/error.h"

namespace tdm::bootstrap {

namespace {
// Layout inside the 128 bytes: magic, nonce, address length, address bytes, key.
struct Packed {
  uint64_t magic;
  uint64_t nonce;
  uint32_t length;
  uint8_t address[sizeof(sockaddr_in6)];
  uint8_t key[sizeof(JobKey)];
};
static_assert(sizeof(Packed) <= TDM_UNIQUE_ID_BYTES);

// An IPv4 or IPv6 socket address of exactly its family's size.
bool plausible_address(const Packed& packed) {
  sa_family_t family;
  if (packed.length < sizeof(family)) return false;
  std::memcpy(&family, packed.address, sizeof(family));
  return (family == AF_INET && packed.length == sizeof(sockaddr_in)) ||
         (family == AF_INET6 && packed.length == sizeof(sockaddr_in6));
}
}  // namespace

std::string SocketAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  char out[INET6_ADDRSTRLEN + 16];
  if (storage.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    std::snprintf(out, sizeof(out), "[%s]:%d", text, ntohs(in6->sin6_port));
  } else {
    auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    std::snprintf(out, sizeof(out), "%s:%d", text, ntohs(in->sin_port));
  }
  return out;
}

tdmUniqueId encode(const UniqueIdContents& contents) {
  tdmUniqueId id{};
  Packed packed{};
  packed.magic = contents.magic;
  packed.nonce = contents.nonce;
  packed.length =
      static_cast<uint32_t>(std::min<size_t>(contents.root.length, sizeof(packed.address)));
  std::memcpy(packed.address, &contents.root.storage, packed.length);
  std::memcpy(packed.key, contents.key.data(), sizeof(packed.key));
  std::memcpy(id.internal, &packed, sizeof(packed));
  return id;
}

UniqueIdContents decode(const tdmUniqueId& id) {
  Packed packed;
  std::memcpy(&packed, id.internal, sizeof(packed));
  if (packed.magic != UniqueIdContents::kMagic || !plausible_address(packed))
    throw_error(tdmInvalidArgument,
                "the tdmUniqueId was not made by tdmGetUniqueId (bad magic or address); "
                "pass every rank the same id from one tdmGetUniqueId call");
  UniqueIdContents contents;
  contents.nonce = packed.nonce;
  contents.root.length = packed.length;
  std::memcpy(&contents.root.storage, packed.address, packed.length);
  std::memcpy(contents.key.data(), packed.key, sizeof(packed.key));
  return contents;
}

UniqueIdContents new_job(const SocketAddress& root) {
  UniqueIdContents contents;
  contents.root = root;
  crypto::random_bytes(std::as_writable_bytes(std::span(&contents.nonce, 1)));
  if (contents.nonce == 0) contents.nonce = 1;  // 0 means "none" to callers
  crypto::random_bytes(std::as_writable_bytes(std::span(contents.key)));
  return contents;
}

std::string to_hex(const tdmUniqueId& id) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof(id.internal));
  for (char c : id.internal) {
    auto b = static_cast<unsigned char>(c);
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

tdmUniqueId from_hex(const std::string& hex) {
  if (hex.size() != 2 * TDM_UNIQUE_ID_BYTES)
    throw_error(tdmInvalidArgument, "unique id text must be ", 2 * TDM_UNIQUE_ID_BYTES,
                " hex digits, got ", hex.size());
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw_error(tdmInvalidArgument, "unique id text has a non-hex character '", c, "'");
  };
  tdmUniqueId id{};
  for (size_t i = 0; i < TDM_UNIQUE_ID_BYTES; ++i)
    id.internal[i] = static_cast<char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return id;
}

}  // namespace tdm::bootstrap
