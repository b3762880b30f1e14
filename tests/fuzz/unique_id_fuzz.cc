// Fuzzes the unique id as a process receives it: 128 raw bytes (tdmCommInitRank's
// argument) and the hex text of TANDEM_UNIQUE_ID. Anything decode() accepts
// must name an IPv4/IPv6 address of its family's size and survive a round trip.
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "bootstrap/unique_id.h"
#include "util/error.h"

using namespace tdm::bootstrap;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tdmUniqueId id{};
  std::memcpy(id.internal, data, std::min(size, sizeof(id.internal)));
  try {
    UniqueIdContents contents = decode(id);
    const auto family = contents.root.storage.ss_family;
    if (!((family == AF_INET && contents.root.length == sizeof(sockaddr_in)) ||
          (family == AF_INET6 && contents.root.length == sizeof(sockaddr_in6))))
      __builtin_trap();
    UniqueIdContents again = decode(encode(contents));
    if (again.nonce != contents.nonce || again.key != contents.key ||
        again.root.to_string() != contents.root.to_string())
      __builtin_trap();
  } catch (const tdm::Error&) {
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    tdmUniqueId parsed = from_hex(text);
    if (from_hex(to_hex(parsed)).internal[0] != parsed.internal[0]) __builtin_trap();
  } catch (const tdm::Error&) {
  }
  return 0;
}
