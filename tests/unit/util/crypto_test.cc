// SHA-256 and HMAC-SHA256 against published vectors (FIPS 180-4 examples,
// RFC 4231 cases 1, 2 and 6) and a multi-block message whose digest Python's
// hashlib computed; chunked updates must agree with one-shot ones.
#include "util/crypto.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tdm::crypto {
namespace {

std::string hex(const Digest& d) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) out += {digits[b >> 4], digits[b & 15]};
  return out;
}

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(hex(sha256(bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256(bytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, ChunkedUpdatesMatchOneShot) {
  std::vector<std::byte> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::byte((i * 7 + 3) % 256);
  const std::string expected = "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371";
  EXPECT_EQ(hex(sha256(data)), expected);
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 20; ++trial) {
    Sha256 h;
    for (size_t at = 0; at < data.size();) {
      size_t take = std::min<size_t>(data.size() - at, rng() % 130);
      h.update(std::span(data).subspan(at, take));
      at += take;
    }
    EXPECT_EQ(hex(h.finish()), expected);
  }
}

TEST(HmacSha256, Rfc4231Vectors) {
  const std::string key1(20, '\x0b');
  EXPECT_EQ(hex(hmac_sha256(bytes(key1), bytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(hmac_sha256(bytes("Jefe"), bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string key6(131, '\xaa');  // longer than a block: hashed first
  EXPECT_EQ(hex(hmac_sha256(bytes(key6),
                            bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  Hmac pieces(bytes("Jefe"));
  pieces.update("what do ya ");
  pieces.update("want for nothing?");
  EXPECT_EQ(hex(pieces.finish()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(RandomBytes, FillsAndDiffers) {
  std::array<std::byte, 32> a{}, b{};
  random_bytes(a);
  random_bytes(b);
  EXPECT_NE(a, b);  // equal with probability 2^-256
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  Digest a = sha256(bytes("a")), b = a;
  EXPECT_TRUE(equal_in_constant_time(a, b));
  b[31] ^= 1;
  EXPECT_FALSE(equal_in_constant_time(a, b));
  EXPECT_FALSE(equal_in_constant_time(a, std::span(b).first(31)));
}

}  // namespace
}  // namespace tdm::crypto
