// The bootstrap's messages and how each side decodes them. Every connection
// of a job (rank to root, rank to rank, socket-transport data) opens with the
// same authenticated handshake:
//
//   acceptor  -> connector  Challenge  magic, 16 random bytes
//   connector -> acceptor   Hello      who it is, its own 16 random bytes,
//                                      HMAC(job key, challenge + hello)
//   acceptor  -> connector  Accept     HMAC(job key, hello), proving the
//                                      acceptor holds the key too
//
// so a party without the unique id (or TANDEM_JOB_SECRET) is refused and a
// recorded handshake cannot be replayed. The root's answer to a rank is MACed
// over the rank's hello nonce: ranks connect only to addresses the root
// vouched for. Decoders check every length, count and index against what the
// message can hold before using it and throw WireError with the reason; the
// caller closes that connection and carries on.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bootstrap/unique_id.h"
#include "util/crypto.h"
#include "util/error.h"

namespace tdm::bootstrap {

// A malformed or unauthenticated message; what() says why.
class WireError : public Error {
 public:
  explicit WireError(const std::string& why) : Error(tdmRemoteError, why) {}
};

struct WireAddress {
  uint32_t length = 0;
  uint8_t bytes[sizeof(sockaddr_in6)] = {};

  static WireAddress from(const SocketAddress& addr);
  // Throws WireError unless this is an IPv4 or IPv6 address of its family's size.
  SocketAddress to_address() const;
};

enum class Purpose : int32_t { kRendezvous = 1, kMesh = 2, kSocketData = 3 };

constexpr size_t kNonceBytes = 16;

struct Challenge {
  static constexpr uint64_t kMagic = 0x314c48434d444e54ULL;  // "TNDMCHL1"
  uint64_t magic = kMagic;
  uint8_t nonce[kNonceBytes] = {};
};

struct Hello {
  static constexpr uint64_t kMagic = 0x314c4548444e4154ULL;  // "TANDHEL1"
  uint64_t magic = kMagic;
  uint64_t job = 0;  // the unique id's nonce
  int32_t rank = -1;
  int32_t nranks = 0;
  int32_t purpose = 0;  // a Purpose
  uint32_t reserved = 0;
  WireAddress listen;  // kRendezvous: where this rank accepts mesh connections
  uint8_t nonce[kNonceBytes] = {};
  uint8_t mac[32] = {};
};

struct Accept {
  uint8_t mac[32] = {};
};

// The root's answer: status 0 and nranks WireAddress, or a sentence; then a MAC.
struct ReplyHeader {
  int32_t status = 0;
  uint32_t length = 0;  // payload bytes
};
constexpr uint32_t kMaxReplyText = 4096;

// Room for the largest job the root accepts (its table is one allocation).
constexpr int32_t kMaxRanks = 1 << 20;

// MACs of the handshake and the root's reply.
crypto::Digest hello_mac(const JobKey& key, const Challenge& challenge, const Hello& hello);
crypto::Digest accept_mac(const JobKey& key, const Challenge& challenge, const Hello& hello);
crypto::Digest reply_mac(const JobKey& key, const Hello& hello, const ReplyHeader& header,
                         std::span<const std::byte> payload);

// Connector side: the acceptor's first message.
Challenge decode_challenge(std::span<const std::byte> bytes);
// Connector side: the acceptor's proof.
void verify_accept(std::span<const std::byte> bytes, const JobKey& key, const Challenge& challenge,
                   const Hello& hello);
// Acceptor side: magic, MAC, job, purpose and rank/nranks ranges (kRendezvous:
// the listen address too).
Hello decode_hello(std::span<const std::byte> bytes, const JobKey& key, const Challenge& challenge,
                   uint64_t job, Purpose purpose);

// Rank side, the root's answer in three reads: the header (checked against
// what a reply to `nranks` ranks can hold: throws on more), then payload and
// MAC; decode_root_reply throws WireError for a bad MAC or address, and
// tdmRemoteError with the root's sentence when the rendezvous failed.
void check_reply_header(const ReplyHeader& header, int nranks);
std::vector<SocketAddress> decode_root_reply(const ReplyHeader& header,
                                             std::span<const std::byte> payload,
                                             std::span<const std::byte> mac, const JobKey& key,
                                             const Hello& hello, int nranks);

template <typename T>
T decode_fixed(std::span<const std::byte> bytes, std::string_view what);

}  // namespace tdm::bootstrap
