// The few primitives the bootstrap authenticates with: SHA-256 and
// HMAC-SHA256 (FIPS 180-4, RFC 2104), random bytes from the kernel, and a
// comparison whose time does not depend on where two MACs differ. Kept here
// rather than linking a TLS library: the bootstrap only proves possession of
// the job key, it does not encrypt.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tdm::crypto {

using Digest = std::array<uint8_t, 32>;

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view text) { update(std::as_bytes(std::span(text))); }
  Digest finish();

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

Digest sha256(std::span<const std::byte> data);

// Incremental HMAC-SHA256 under one key (any length).
class Hmac {
 public:
  explicit Hmac(std::span<const std::byte> key);
  void update(std::span<const std::byte> data) { inner_.update(data); }
  void update(std::string_view text) { inner_.update(text); }
  Digest finish();

 private:
  std::array<uint8_t, 64> outer_pad_{};
  Sha256 inner_;
};

Digest hmac_sha256(std::span<const std::byte> key, std::span<const std::byte> data);

// Fills `out` from getrandom(2); throws tdmSystemError if the kernel cannot.
void random_bytes(std::span<std::byte> out);

// Equality of two digests in time independent of their contents.
bool equal_in_constant_time(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace tdm::crypto
