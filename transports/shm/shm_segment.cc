#include "transports/shm/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "bootstrap/bootstrap.h"
#include "util/error.h"
#include "util/fd.h"

namespace tdm::transport {

Mapping::~Mapping() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

std::string segment_name(uint64_t nonce, int rank) {
  static std::atomic<uint64_t> serial{0};
  char text[64];
  std::snprintf(text, sizeof(text), "/tandem-%016llx-%d-%llu-%d",
                static_cast<unsigned long long>(nonce), rank,
                static_cast<unsigned long long>(serial.fetch_add(1)), static_cast<int>(getpid()));
  return text;
}

Mapping map_segment(const std::string& name, size_t size, bool create) {
  int flags = O_RDWR | (create ? O_CREAT | O_EXCL : 0);
  Fd fd(::shm_open(name.c_str(), flags, 0600));
  if (!fd.valid()) throw_system_error("shm_open " + name, errno);
  if (create) {
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
      throw_system_error("ftruncate " + name, errno);
    if (int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size)); err != 0) {
      ::shm_unlink(name.c_str());
      throw_error(tdmSystemError, "cannot reserve ", size, " bytes in /dev/shm for ", name, ": ",
                  std::strerror(err), " (make /dev/shm larger or lower TANDEM_SHM_BUFFER_SIZE)");
    }
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) throw_system_error("mmap " + name, errno);
  return Mapping(base, size);
}

Mapping map_shared_by_all(bootstrap::Bootstrap& boot, size_t size) {
  struct Name {
    char text[64];
  } name{};
  struct Unlinker {
    std::string name;
    ~Unlinker() {
      if (!name.empty()) ::shm_unlink(name.c_str());
    }
  } unlink_own;
  Mapping mapping;
  if (boot.rank() == 0) {
    unlink_own.name = segment_name(boot.nonce(), 0);
    mapping = map_segment(unlink_own.name, size, /*create=*/true);
    std::snprintf(name.text, sizeof(name.text), "%s", unlink_own.name.c_str());
  }
  auto names = boot.allgather_value(name);
  if (boot.rank() != 0) mapping = map_segment(names[0].text, size, /*create=*/false);
  boot.barrier();  // every rank mapped it; rank 0's Unlinker unlinks
  return mapping;
}

}  // namespace tdm::transport
