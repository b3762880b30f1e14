#include "bootstrap/wire.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "bootstrap/socket.h"

namespace tdm::bootstrap {

// The MACs cover the structs' bytes: no padding may carry stale memory, and
// every host of a job must lay them out alike.
static_assert(std::has_unique_object_representations_v<Challenge>);
static_assert(std::has_unique_object_representations_v<Hello>);
static_assert(std::has_unique_object_representations_v<ReplyHeader>);
static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");

namespace {

// Hello's bytes before its MAC.
std::span<const std::byte> signed_part(const Hello& hello) {
  return as_bytes_of(hello).first(offsetof(Hello, mac));
}

bool same_digest(const crypto::Digest& expected, std::span<const std::byte> got) {
  return crypto::equal_in_constant_time(
      expected, std::span(reinterpret_cast<const uint8_t*>(got.data()), got.size()));
}

}  // namespace

template <typename T>
T decode_fixed(std::span<const std::byte> bytes, std::string_view what) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (bytes.size() != sizeof(T))
    throw WireError(std::string(what) + " has " + std::to_string(bytes.size()) +
                    " bytes, expected " + std::to_string(sizeof(T)));
  T value;
  std::memcpy(&value, bytes.data(), sizeof(T));
  return value;
}
template Challenge decode_fixed<Challenge>(std::span<const std::byte>, std::string_view);
template Hello decode_fixed<Hello>(std::span<const std::byte>, std::string_view);
template Accept decode_fixed<Accept>(std::span<const std::byte>, std::string_view);
template ReplyHeader decode_fixed<ReplyHeader>(std::span<const std::byte>, std::string_view);
template WireAddress decode_fixed<WireAddress>(std::span<const std::byte>, std::string_view);

WireAddress WireAddress::from(const SocketAddress& addr) {
  WireAddress w;
  w.length = static_cast<uint32_t>(std::min<size_t>(addr.length, sizeof(w.bytes)));
  std::memcpy(w.bytes, &addr.storage, w.length);
  return w;
}

SocketAddress WireAddress::to_address() const {
  sa_family_t family = 0;
  if (length >= sizeof(family)) std::memcpy(&family, bytes, sizeof(family));
  const bool ok = (family == AF_INET && length == sizeof(sockaddr_in)) ||
                  (family == AF_INET6 && length == sizeof(sockaddr_in6));
  if (!ok)
    throw WireError("address of " + std::to_string(length) + " bytes and family " +
                    std::to_string(family) + " is not an IPv4 or IPv6 socket address");
  SocketAddress addr;
  addr.length = length;
  std::memcpy(&addr.storage, bytes, length);
  return addr;
}

crypto::Digest hello_mac(const JobKey& key, const Challenge& challenge, const Hello& hello) {
  crypto::Hmac mac(std::as_bytes(std::span(key)));
  mac.update("tandem hello");
  mac.update(as_bytes_of(challenge));
  mac.update(signed_part(hello));
  return mac.finish();
}

crypto::Digest accept_mac(const JobKey& key, const Challenge& challenge, const Hello& hello) {
  crypto::Hmac mac(std::as_bytes(std::span(key)));
  mac.update("tandem accept");
  mac.update(as_bytes_of(challenge));
  mac.update(as_bytes_of(hello));
  return mac.finish();
}

crypto::Digest reply_mac(const JobKey& key, const Hello& hello, const ReplyHeader& header,
                         std::span<const std::byte> payload) {
  crypto::Hmac mac(std::as_bytes(std::span(key)));
  mac.update("tandem root reply");
  mac.update(std::as_bytes(std::span(hello.nonce)));
  mac.update(as_bytes_of(header));
  mac.update(payload);
  return mac.finish();
}

Challenge decode_challenge(std::span<const std::byte> bytes) {
  auto challenge = decode_fixed<Challenge>(bytes, "challenge");
  if (challenge.magic != Challenge::kMagic)
    throw WireError("the peer is not a Tandem bootstrap endpoint (bad challenge magic)");
  return challenge;
}

void verify_accept(std::span<const std::byte> bytes, const JobKey& key, const Challenge& challenge,
                   const Hello& hello) {
  auto accept = decode_fixed<Accept>(bytes, "accept");
  if (!same_digest(accept_mac(key, challenge, hello), std::as_bytes(std::span(accept.mac))))
    throw WireError("the peer did not prove it holds this job's key (not a rank of this job)");
}

Hello decode_hello(std::span<const std::byte> bytes, const JobKey& key, const Challenge& challenge,
                   uint64_t job, Purpose purpose) {
  auto hello = decode_fixed<Hello>(bytes, "hello");
  if (hello.magic != Hello::kMagic) throw WireError("not a Tandem hello (bad magic)");
  if (!same_digest(hello_mac(key, challenge, hello), std::as_bytes(std::span(hello.mac))))
    throw WireError("hello fails authentication (the peer lacks this job's unique id or secret)");
  if (hello.job != job) throw WireError("authenticated hello names another job");
  if (hello.purpose != static_cast<int32_t>(purpose))
    throw WireError("hello is for connection purpose " + std::to_string(hello.purpose) +
                    ", expected " + std::to_string(static_cast<int32_t>(purpose)));
  if (hello.nranks <= 0 || hello.nranks > kMaxRanks)
    throw WireError("hello claims " + std::to_string(hello.nranks) + " ranks (at most " +
                    std::to_string(kMaxRanks) + ")");
  if (hello.rank < 0 || hello.rank >= hello.nranks)
    throw WireError("hello claims rank " + std::to_string(hello.rank) + " of " +
                    std::to_string(hello.nranks));
  if (purpose == Purpose::kRendezvous) (void)hello.listen.to_address();
  return hello;
}

void check_reply_header(const ReplyHeader& header, int nranks) {
  const uint64_t table = uint64_t(std::max(nranks, 0)) * sizeof(WireAddress);
  if (header.status == 0 ? header.length != table : header.length > kMaxReplyText)
    throw WireError("the root's reply announces " + std::to_string(header.length) +
                    " bytes, which a reply with status " + std::to_string(header.status) + " to " +
                    std::to_string(nranks) + " ranks cannot hold");
}

std::vector<SocketAddress> decode_root_reply(const ReplyHeader& header,
                                             std::span<const std::byte> payload,
                                             std::span<const std::byte> mac, const JobKey& key,
                                             const Hello& hello, int nranks) {
  check_reply_header(header, nranks);
  if (payload.size() != header.length)
    throw WireError("the root's reply has " + std::to_string(payload.size()) +
                    " payload bytes, its header says " + std::to_string(header.length));
  if (!same_digest(reply_mac(key, hello, header, payload), mac))
    throw WireError("the root's reply fails authentication (not this job's root)");
  if (header.status != 0)
    throw_error(tdmRemoteError, "rendezvous failed: ",
                std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  std::vector<SocketAddress> table;
  table.reserve(static_cast<size_t>(nranks));
  for (int r = 0; r < nranks; ++r) {
    auto w = decode_fixed<WireAddress>(
        payload.subspan(r * sizeof(WireAddress), sizeof(WireAddress)), "address");
    try {
      table.push_back(w.to_address());
    } catch (const WireError& e) {
      throw WireError("the root's table entry for rank " + std::to_string(r) + ": " + e.what());
    }
  }
  return table;
}

}  // namespace tdm::bootstrap
