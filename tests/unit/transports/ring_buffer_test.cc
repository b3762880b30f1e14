// The single-producer single-consumer ring under the transports: bytes come
// out in order across many wraps of the buffer.
#include "transports/ring_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace {

TEST(RingBuffer, StreamsBytesInOrderAcrossTheWrap) {
  constexpr size_t kCapacity = 4096;
  tdm::transport::RingControl control;
  std::vector<std::byte> storage(kCapacity);
  tdm::transport::RingWriter writer(&control, storage.data(), kCapacity);
  tdm::transport::RingReader reader(&control, storage.data(), kCapacity);
  std::mt19937 rng(std::random_device{}());
  std::vector<uint8_t> sent(1 << 20);
  for (auto& b : sent) b = static_cast<uint8_t>(rng());
  std::vector<uint8_t> received;
  // Producer thread writes random-sized pieces; consumer reads random-sized pieces.
  std::thread producer([&] {
    std::mt19937 r(7);
    size_t at = 0;
    while (at < sent.size()) {
      auto space = writer.space();
      size_t n = std::min({space.size(), sent.size() - at, size_t(r() % 3000 + 1)});
      std::memcpy(space.data(), sent.data() + at, n);
      writer.commit(n);
      at += n;
    }
  });
  while (received.size() < sent.size()) {
    auto data = reader.data();
    size_t n = std::min<size_t>(data.size(), rng() % 2500 + 1);
    auto* p = reinterpret_cast<const uint8_t*>(data.data());
    received.insert(received.end(), p, p + n);
    reader.release(n);
  }
  producer.join();
  EXPECT_EQ(received, sent);
}

}  // namespace
