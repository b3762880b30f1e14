// Shared-memory transport between processes of one host: each rank owns one
// POSIX shm segment holding an inbound ring per local peer; peers map it and
// write into their ring. Segments are unlinked as soon as everyone mapped
// them, so a crash leaves nothing behind in /dev/shm.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "bootstrap/bootstrap.h"
#include "transports/ring_buffer.h"
#include "transports/shm/shm_segment.h"
#include "transports/transport.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::transport {

namespace {

struct SegmentName {
  char text[64];
};

// One ring per slot: its control block, then its data. The stride keeps every
// control block at its alignment whatever the capacity (UBSan caught a
// misaligned one with a capacity of 1000 bytes; the communicator's are page
// multiples).
size_t slot_bytes(size_t capacity) {
  constexpr size_t align = alignof(RingControl);
  return sizeof(RingControl) + (capacity + align - 1) / align * align;
}

class ShmLink final : public Link {
 public:
  ShmLink(RingWriter out, RingReader in, std::shared_ptr<Mapping> own,
          std::shared_ptr<Mapping> peer)
      : out_(out), in_(in), own_(std::move(own)), peer_(std::move(peer)) {}
  std::span<std::byte> send_space() override { return out_.space(); }
  void send_commit(size_t bytes) override { out_.commit(bytes); }
  std::span<const std::byte> recv_data() override { return in_.data(); }
  void recv_release(size_t bytes) override { in_.release(bytes); }
  const char* name() const override { return "shm"; }

 private:
  RingWriter out_;
  RingReader in_;
  std::shared_ptr<Mapping> own_;   // holds our inbound rings
  std::shared_ptr<Mapping> peer_;  // holds the peer's inbound ring from us
};

class ShmTransport final : public Transport {
 public:
  const char* name() const override { return "shm"; }

  std::vector<std::unique_ptr<Link>> connect(bootstrap::Bootstrap& boot, std::span<const int> peers,
                                             size_t capacity) override {
    std::vector<int> sorted(peers.begin(), peers.end());
    std::sort(sorted.begin(), sorted.end());

    SegmentName mine{};
    std::shared_ptr<Mapping> own;
    std::string own_name;
    if (!sorted.empty()) {
      own_name = segment_name(boot.nonce(), boot.rank());
      own = std::make_shared<Mapping>(
          map_segment(own_name, slot_bytes(capacity) * sorted.size(), /*create=*/true));
      for (size_t i = 0; i < sorted.size(); ++i)
        new (own->bytes() + i * slot_bytes(capacity)) RingControl();
      std::snprintf(mine.text, sizeof(mine.text), "%s", own_name.c_str());
    }
    struct Unlinker {
      std::string name;
      ~Unlinker() {
        if (!name.empty()) ::shm_unlink(name.c_str());
      }
    } unlink_own{own_name};

    auto names = boot.allgather_value(mine);
    std::vector<std::unique_ptr<Link>> links;
    for (int peer : peers) {
      // Our ring inside the peer's segment sits at our index among the
      // peer's local peers, which are ours minus the peer plus us.
      std::vector<int> theirs = sorted;
      std::erase(theirs, peer);
      theirs.insert(std::upper_bound(theirs.begin(), theirs.end(), boot.rank()), boot.rank());
      size_t slot_in_peer =
          std::lower_bound(theirs.begin(), theirs.end(), boot.rank()) - theirs.begin();
      size_t slot_in_own = std::lower_bound(sorted.begin(), sorted.end(), peer) - sorted.begin();
      auto peer_map = std::make_shared<Mapping>(
          map_segment(names[peer].text, slot_bytes(capacity) * theirs.size(), /*create=*/false));
      std::byte* out_slot = peer_map->bytes() + slot_in_peer * slot_bytes(capacity);
      std::byte* in_slot = own->bytes() + slot_in_own * slot_bytes(capacity);
      links.push_back(
          std::make_unique<ShmLink>(RingWriter(reinterpret_cast<RingControl*>(out_slot),
                                               out_slot + sizeof(RingControl), capacity),
                                    RingReader(reinterpret_cast<RingControl*>(in_slot),
                                               in_slot + sizeof(RingControl), capacity),
                                    own, std::move(peer_map)));
    }
    boot.barrier();  // everyone mapped everything; the destructor of unlink_own unlinks
    TDM_INFO("TRANSPORT", "shm links to ", peers.size(), " peers, ", capacity, " B rings");
    return links;
  }
};

}  // namespace

std::unique_ptr<Transport> make_shm_transport() { return std::make_unique<ShmTransport>(); }

}  // namespace tdm::transport
