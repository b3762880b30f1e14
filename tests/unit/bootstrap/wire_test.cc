// The bootstrap's decoders against what a broken or hostile peer sends:
// lengths and addresses from the wire, forged or replayed MACs, replies that
// announce more than they may hold. Each must throw WireError (the caller
// drops that connection) and never read or allocate past the message.
#include "bootstrap/wire.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "bootstrap/socket.h"

namespace tdm::bootstrap {
namespace {

JobKey random_key() {
  JobKey key{};
  crypto::random_bytes(std::as_writable_bytes(std::span(key)));
  return key;
}

SocketAddress ipv4(uint16_t port) {
  SocketAddress addr;
  auto* in = reinterpret_cast<sockaddr_in*>(&addr.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.length = sizeof(sockaddr_in);
  return addr;
}

Hello signed_hello(const JobKey& key, const Challenge& challenge, uint64_t job, int rank,
                   int nranks, Purpose purpose) {
  Hello hello;
  hello.job = job;
  hello.rank = rank;
  hello.nranks = nranks;
  hello.purpose = static_cast<int32_t>(purpose);
  hello.listen = WireAddress::from(ipv4(4242));
  crypto::random_bytes(std::as_writable_bytes(std::span(hello.nonce)));
  auto mac = hello_mac(key, challenge, hello);
  std::copy(mac.begin(), mac.end(), hello.mac);
  return hello;
}

TEST(WireAddress, RejectsLengthsAndFamiliesNoSocketHas) {
  WireAddress w = WireAddress::from(ipv4(1));
  EXPECT_EQ(w.to_address().to_string(), "127.0.0.1:1");
  for (uint32_t length : {0u, 1u, 15u, 17u, 28u, 29u, 1566399812u, ~0u}) {
    WireAddress bad = w;
    bad.length = length;
    EXPECT_THROW(bad.to_address(), WireError) << length;
  }
  WireAddress family = w;
  family.bytes[0] = 77;  // sa_family is not AF_INET
  family.bytes[1] = 0;
  EXPECT_THROW(family.to_address(), WireError);
}

TEST(Hello, GoodOneDecodesAndEveryCorruptionIsRefused) {
  const JobKey key = random_key();
  Challenge challenge;
  crypto::random_bytes(std::as_writable_bytes(std::span(challenge.nonce)));
  const uint64_t job = 99;
  Hello good = signed_hello(key, challenge, job, 2, 4, Purpose::kRendezvous);
  EXPECT_EQ(decode_hello(as_bytes_of(good), key, challenge, job, Purpose::kRendezvous).rank, 2);

  // Truncated or oversized messages.
  EXPECT_THROW(decode_hello(as_bytes_of(good).first(sizeof(Hello) - 1), key, challenge, job,
                            Purpose::kRendezvous),
               WireError);
  std::vector<std::byte> longer(sizeof(Hello) + 1);
  std::memcpy(longer.data(), &good, sizeof(good));
  EXPECT_THROW(decode_hello(longer, key, challenge, job, Purpose::kRendezvous), WireError);
  // Any flipped bit: the MAC (or the magic) no longer matches.
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 200; ++trial) {
    Hello bad = good;
    auto* raw = reinterpret_cast<uint8_t*>(&bad);
    raw[rng() % sizeof(bad)] ^= uint8_t(1u << (rng() % 8));
    EXPECT_THROW(decode_hello(as_bytes_of(bad), key, challenge, job, Purpose::kRendezvous),
                 WireError);
  }
  // Another key, another challenge (a replay), another purpose or job.
  EXPECT_THROW(decode_hello(as_bytes_of(good), random_key(), challenge, job, Purpose::kRendezvous),
               WireError);
  Challenge other = challenge;
  other.nonce[0] ^= 1;
  EXPECT_THROW(decode_hello(as_bytes_of(good), key, other, job, Purpose::kRendezvous), WireError);
  EXPECT_THROW(decode_hello(as_bytes_of(good), key, challenge, job, Purpose::kMesh), WireError);
  EXPECT_THROW(decode_hello(as_bytes_of(good), key, challenge, job + 1, Purpose::kRendezvous),
               WireError);
}

TEST(Hello, AuthenticatedButOutOfRangeFieldsAreRefused) {
  const JobKey key = random_key();
  Challenge challenge;
  const std::pair<int, int> cases[] = {{-1, 4}, {4, 4}, {0, 0}, {0, -3}, {0, kMaxRanks + 1}};
  for (auto [rank, nranks] : cases) {
    Hello h = signed_hello(key, challenge, 1, rank, nranks, Purpose::kMesh);
    EXPECT_THROW(decode_hello(as_bytes_of(h), key, challenge, 1, Purpose::kMesh), WireError)
        << rank << " of " << nranks;
  }
  // A rendezvous hello must carry a real listen address.
  Hello h = signed_hello(key, challenge, 1, 0, 2, Purpose::kRendezvous);
  h.listen.length = 1566399812;
  auto mac = hello_mac(key, challenge, h);
  std::copy(mac.begin(), mac.end(), h.mac);
  EXPECT_THROW(decode_hello(as_bytes_of(h), key, challenge, 1, Purpose::kRendezvous), WireError);
}

TEST(Accept, OnlyTheKeyHolderCanProduceIt) {
  const JobKey key = random_key();
  Challenge challenge;
  Hello hello = signed_hello(key, challenge, 1, 0, 2, Purpose::kMesh);
  auto proof = accept_mac(key, challenge, hello);
  EXPECT_NO_THROW(verify_accept(std::as_bytes(std::span(proof)), key, challenge, hello));
  auto forged = accept_mac(random_key(), challenge, hello);
  EXPECT_THROW(verify_accept(std::as_bytes(std::span(forged)), key, challenge, hello), WireError);
  EXPECT_THROW(verify_accept(std::as_bytes(std::span(proof)).first(31), key, challenge, hello),
               WireError);
}

TEST(Challenge, WrongSizeOrMagicIsRefused) {
  Challenge c;
  EXPECT_NO_THROW(decode_challenge(as_bytes_of(c)));
  EXPECT_THROW(decode_challenge(as_bytes_of(c).first(sizeof(c) - 1)), WireError);
  c.magic ^= 1;
  EXPECT_THROW(decode_challenge(as_bytes_of(c)), WireError);
}

TEST(RootReply, HeaderLengthsAreBoundedBeforeAnythingIsAllocated) {
  const int nranks = 3;
  EXPECT_NO_THROW(check_reply_header(ReplyHeader{0, 3 * sizeof(WireAddress)}, nranks));
  EXPECT_NO_THROW(check_reply_header(ReplyHeader{1, kMaxReplyText}, nranks));
  // The 9-byte reply that made a rank touch 4 GiB: status 1, length ~4e9.
  EXPECT_THROW(check_reply_header(ReplyHeader{1, 0xfffffff0u}, nranks), WireError);
  EXPECT_THROW(check_reply_header(ReplyHeader{1, kMaxReplyText + 1}, nranks), WireError);
  EXPECT_THROW(check_reply_header(ReplyHeader{0, 2 * sizeof(WireAddress)}, nranks), WireError);
  EXPECT_THROW(check_reply_header(ReplyHeader{0, 0xffffffffu}, nranks), WireError);
}

TEST(RootReply, TableDecodesOnlyWithTheRightMacAndRealAddresses) {
  const JobKey key = random_key();
  Challenge challenge;
  Hello hello = signed_hello(key, challenge, 1, 0, 2, Purpose::kRendezvous);
  std::vector<WireAddress> table = {WireAddress::from(ipv4(10)), WireAddress::from(ipv4(11))};
  auto payload = std::as_bytes(std::span(table));
  ReplyHeader header{0, static_cast<uint32_t>(payload.size())};
  auto mac = reply_mac(key, hello, header, payload);
  auto addresses = decode_root_reply(header, payload, std::as_bytes(std::span(mac)), key, hello, 2);
  ASSERT_EQ(addresses.size(), 2u);
  EXPECT_EQ(addresses[1].to_string(), "127.0.0.1:11");
  // Reply to another hello (replayed to a later rank), or forged.
  Hello other = hello;
  other.nonce[3] ^= 1;
  EXPECT_THROW(decode_root_reply(header, payload, std::as_bytes(std::span(mac)), key, other, 2),
               WireError);
  // A vouched table with a bad address is still refused.
  table[1].length = 200;
  auto bad_payload = std::as_bytes(std::span(table));
  auto bad_mac = reply_mac(key, hello, header, bad_payload);
  EXPECT_THROW(
      decode_root_reply(header, bad_payload, std::as_bytes(std::span(bad_mac)), key, hello, 2),
      WireError);
  // The root's failure sentence arrives as a remote error with its text.
  std::string text = "only 1 of 2 ranks reached the rendezvous";
  ReplyHeader failed{1, static_cast<uint32_t>(text.size())};
  auto text_mac = reply_mac(key, hello, failed, std::as_bytes(std::span(text)));
  try {
    decode_root_reply(failed, std::as_bytes(std::span(text)), std::as_bytes(std::span(text_mac)),
                      key, hello, 2);
    FAIL() << "no error";
  } catch (const WireError&) {
    FAIL() << "a failure sentence is not a wire error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmRemoteError);
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos);
  }
}

TEST(UniqueId, RefusesAddressesThatAreNotSocketAddresses) {
  UniqueIdContents contents = new_job(ipv4(5));
  tdmUniqueId id = encode(contents);
  UniqueIdContents back = decode(id);
  EXPECT_EQ(back.root.to_string(), "127.0.0.1:5");
  EXPECT_EQ(back.key, contents.key);
  EXPECT_EQ(back.nonce, contents.nonce);
  tdmUniqueId bad = id;
  const size_t length_at = 16;  // after magic and nonce
  for (uint32_t length : {0u, 2u, 28u, 1000u}) {
    std::memcpy(bad.internal + length_at, &length, sizeof(length));
    EXPECT_THROW(decode(bad), Error) << length;
  }
}

}  // namespace
}  // namespace tdm::bootstrap
