// The seam every transport sits behind. A Link is a pair of byte streams to
// one peer (outbound and inbound), exposed as windows so collectives can
// reduce straight out of the inbound buffer and into the outbound one:
//   send_space() -> write up to that many bytes -> send_commit(n)
//   recv_data()  -> read/reduce those bytes     -> recv_release(n)
// Messages are padded to kLinkAlignment bytes so elements never straddle the
// end of a ring buffer.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace tdm::bootstrap {
class Bootstrap;
}

namespace tdm::transport {

inline constexpr size_t kLinkAlignment = 8;

class Link {
 public:
  virtual ~Link() = default;
  virtual std::span<std::byte> send_space() = 0;
  virtual void send_commit(size_t bytes) = 0;
  virtual std::span<const std::byte> recv_data() = 0;
  virtual void recv_release(size_t bytes) = 0;
  // Moves bytes for transports that need the host's help (sockets); true if anything moved.
  virtual bool progress() { return false; }
  // True when nothing committed is still held in this process (sockets stage
  // outbound bytes locally; a call must not return before they leave).
  virtual bool flushed() { return true; }
  virtual const char* name() const = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  // Collective over the bootstrap: every rank calls it (with possibly no
  // peers) with the same capacity; returns one link per entry of `peers`, in
  // the same order. Capacity: bytes a link buffers in each direction.
  virtual std::vector<std::unique_ptr<Link>> connect(bootstrap::Bootstrap& boot,
                                                     std::span<const int> peers,
                                                     size_t capacity) = 0;
};

std::unique_ptr<Transport> make_shm_transport();
std::unique_ptr<Transport> make_socket_transport();

}  // namespace tdm::transport
