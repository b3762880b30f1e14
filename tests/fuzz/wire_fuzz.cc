// Fuzzes the bootstrap's decoders as each side runs them on bytes from the
// network (src/bootstrap/wire.h). The first byte picks the decoder; for the
// hello and the root's reply, odd selectors sign the fuzzed message with the
// job key first, so the checks behind the MAC (ranks, addresses, lengths) see
// arbitrary values too, as they would from a peer that holds the key.
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bootstrap/wire.h"

using namespace tdm::bootstrap;

namespace {

const JobKey kKey = [] {
  JobKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 37 + 11);
  return key;
}();

bool good_address(const SocketAddress& a) {
  return (a.storage.ss_family == AF_INET && a.length == sizeof(sockaddr_in)) ||
         (a.storage.ss_family == AF_INET6 && a.length == sizeof(sockaddr_in6));
}

template <typename T>
T take(std::span<const std::byte>& in) {
  T value{};
  const size_t n = std::min(in.size(), sizeof(T));
  std::memcpy(&value, in.data(), n);
  in = in.subspan(n);
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  try {
    switch (selector % 8) {
      case 0:
        (void)decode_challenge(in);
        break;
      case 1: {
        Challenge challenge = take<Challenge>(in);
        Hello hello = take<Hello>(in);
        verify_accept(in, kKey, challenge, hello);
        __builtin_trap();  // forging the accept's MAC is not something a fuzzer does
      }
      case 2:
      case 3: {
        const auto purpose = static_cast<Purpose>(1 + (selector / 8) % 3);
        Challenge challenge = take<Challenge>(in);
        std::vector<std::byte> bytes(in.begin(), in.end());
        if (selector % 8 == 3 && bytes.size() >= sizeof(Hello)) {
          Hello h;
          std::memcpy(&h, bytes.data(), sizeof(h));
          auto mac = hello_mac(kKey, challenge, h);
          std::memcpy(bytes.data() + offsetof(Hello, mac), mac.data(), mac.size());
        }
        Hello hello = decode_hello(bytes, kKey, challenge, 5, purpose);
        if (hello.nranks <= 0 || hello.nranks > kMaxRanks || hello.rank < 0 ||
            hello.rank >= hello.nranks)
          __builtin_trap();
        if (purpose == Purpose::kRendezvous && !good_address(hello.listen.to_address()))
          __builtin_trap();
        break;
      }
      case 4:
      case 5: {
        const int nranks = take<uint8_t>(in) % 9;
        Hello hello = take<Hello>(in);
        ReplyHeader header = take<ReplyHeader>(in);
        check_reply_header(header, nranks);
        // What the rank then reads: header.length payload bytes and a MAC.
        std::vector<std::byte> payload(in.begin(),
                                       in.begin() + std::min<size_t>(in.size(), header.length));
        in = in.subspan(payload.size());
        std::vector<std::byte> mac(in.begin(), in.end());
        if (selector % 8 == 5) {
          auto good = reply_mac(kKey, hello, header, payload);
          mac.assign(reinterpret_cast<const std::byte*>(good.data()),
                     reinterpret_cast<const std::byte*>(good.data()) + good.size());
        }
        auto table = decode_root_reply(header, payload, mac, kKey, hello, nranks);
        if (static_cast<int>(table.size()) != nranks) __builtin_trap();
        for (const auto& a : table)
          if (!good_address(a)) __builtin_trap();
        break;
      }
      default: {
        WireAddress w = take<WireAddress>(in);
        if (!good_address(w.to_address())) __builtin_trap();
        break;
      }
    }
  } catch (const tdm::Error&) {
    // Refused: what a bad message must come to.
  }
  return 0;
}
