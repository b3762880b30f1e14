// Passing file descriptors between ranks of a host (mem/fd_passing.h), here
// two FdPassing endpoints in one process (SCM_RIGHTS works the same between
// threads): the received descriptor reads the sender's file, tags that
// arrive out of order are kept for later, and a missing one times out.
#include "mem/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "util/error.h"

namespace tdm::mem {
namespace {

uint64_t random_nonce() {
  std::random_device device;
  return (uint64_t(device()) << 32) | device();
}

// An unlinked temporary file holding `text`.
Fd file_with(const std::string& text) {
  char name[] = "/tmp/tandem-fd-passing-XXXXXX";
  Fd fd(::mkstemp(name));
  if (!fd.valid()) throw std::runtime_error("mkstemp failed");
  ::unlink(name);
  if (::write(fd.get(), text.data(), text.size()) != ssize_t(text.size()))
    throw std::runtime_error("write failed");
  return fd;
}

std::string read_all(int fd) {
  std::string text(256, '\0');
  ssize_t n = ::pread(fd, text.data(), text.size(), 0);
  text.resize(n > 0 ? size_t(n) : 0);
  return text;
}

TEST(FdPassing, ReceivedDescriptorReadsTheSendersFile) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1);
  const Deadline deadline = Deadline::after_seconds(20);
  Fd file = file_with("through the socket");
  rank0.send(1, 42, file.get(), deadline);
  Fd got = rank1.receive(0, 42, deadline);
  ASSERT_TRUE(got.valid());
  EXPECT_NE(got.get(), file.get());  // a new descriptor of the same file
  EXPECT_EQ(read_all(got.get()), "through the socket");
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(file.get(), &a), 0);
  ASSERT_EQ(::fstat(got.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
  // The sender keeps its own descriptor.
  EXPECT_EQ(read_all(file.get()), "through the socket");
}

TEST(FdPassing, TagsReceivedOutOfOrderAreKept) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1), rank2(nonce, 2);
  const Deadline deadline = Deadline::after_seconds(20);
  Fd a = file_with("tag 1 from 0"), b = file_with("tag 2 from 0"), c = file_with("tag 1 from 2");
  rank0.send(1, 1, a.get(), deadline);
  rank0.send(1, 2, b.get(), deadline);
  rank2.send(1, 1, c.get(), deadline);
  // Asked in another order than sent: the others wait in the receiver.
  EXPECT_EQ(read_all(rank1.receive(2, 1, deadline).get()), "tag 1 from 2");
  EXPECT_EQ(read_all(rank1.receive(0, 2, deadline).get()), "tag 2 from 0");
  EXPECT_EQ(read_all(rank1.receive(0, 1, deadline).get()), "tag 1 from 0");
}

TEST(FdPassing, PipeEndsTravelToo) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1);
  const Deadline deadline = Deadline::after_seconds(20);
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  Fd read_end(ends[0]), write_end(ends[1]);
  rank0.send(1, 7, write_end.get(), deadline);
  Fd remote_write = rank1.receive(0, 7, deadline);
  ASSERT_EQ(::write(remote_write.get(), "pipe", 4), 4);
  char buffer[8] = {};
  ASSERT_EQ(::read(read_end.get(), buffer, sizeof(buffer)), 4);
  EXPECT_EQ(std::string(buffer, 4), "pipe");
}

TEST(FdPassing, MissingTagTimesOut) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1);
  Fd other = file_with("another tag");
  rank0.send(1, 5, other.get(), Deadline::after_seconds(20));
  try {
    rank1.receive(0, 6, Deadline::after_seconds(0.2));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmRemoteError) << e.what();
  }
  // What did arrive is still there.
  EXPECT_EQ(read_all(rank1.receive(0, 5, Deadline::after_seconds(20)).get()), "another tag");
}

// A datagram to rank 1's abstract address from outside FdPassing.
struct Stranger {
  Fd socket{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  sockaddr_un to{};
  socklen_t length = 0;
  Stranger(uint64_t nonce, int rank) {
    const std::string name = "tandem-" + hex16(nonce) + "-" + std::to_string(rank);
    to.sun_family = AF_UNIX;
    std::memcpy(to.sun_path + 1, name.data(), name.size());
    length = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  }
  static std::string hex16(uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(v));
    return text;
  }
  // Sends `bytes` with an optional descriptor and optional credentials.
  ssize_t send(const void* bytes, size_t size, int fd, const ucred* credentials) {
    iovec iov{const_cast<void*>(bytes), size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = length;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    size_t used = 0;
    if (fd >= 0 || credentials) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      if (fd >= 0) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
        used += CMSG_SPACE(sizeof(int));
        c = CMSG_NXTHDR(&msg, c);
      }
      if (credentials) {
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_CREDENTIALS;
        c->cmsg_len = CMSG_LEN(sizeof(ucred));
        std::memcpy(CMSG_DATA(c), credentials, sizeof(ucred));
        used += CMSG_SPACE(sizeof(ucred));
      }
      msg.msg_controllen = used;
    }
    return ::sendmsg(socket.get(), &msg, MSG_NOSIGNAL);
  }
};

// Anyone on the host can reach the abstract address: malformed datagrams
// (wrong size, no descriptor, a claim to be the receiver itself) are dropped
// and the real message still arrives.
TEST(FdPassing, StrayDatagramsAreDroppedNotFatal) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1);
  Stranger stranger(nonce, 1);
  const char junk[5] = "junk";
  ASSERT_GT(stranger.send(junk, sizeof(junk), -1, nullptr), 0);
  struct {
    uint64_t tag;
    int32_t rank, padding;
  } header{9, 0, 0};
  ASSERT_GT(stranger.send(&header, sizeof(header), -1, nullptr), 0);  // no descriptor
  Fd bogus = file_with("bogus");
  header.rank = 1;  // the receiver itself
  ASSERT_GT(stranger.send(&header, sizeof(header), bogus.get(), nullptr), 0);
  Fd real = file_with("real");
  rank0.send(1, 9, real.get(), Deadline::after_seconds(20));
  EXPECT_EQ(read_all(rank1.receive(0, 9, Deadline::after_seconds(20)).get()), "real");
}

// A descriptor stamped with another user's credentials is refused. Only a
// privileged sender can claim another uid: without the privilege the kernel
// refuses the forgery itself (EPERM), which is the same protection.
TEST(FdPassing, AnotherUsersDescriptorIsRefused) {
  const uint64_t nonce = random_nonce();
  FdPassing rank0(nonce, 0), rank1(nonce, 1);
  Stranger stranger(nonce, 1);
  struct {
    uint64_t tag;
    int32_t rank, padding;
  } header{3, 0, 0};
  Fd forged = file_with("forged");
  const ucred other{::getpid(), ::geteuid() + 4242, ::getegid()};
  const ssize_t sent = stranger.send(&header, sizeof(header), forged.get(), &other);
  if (sent < 0) {
    EXPECT_EQ(errno, EPERM) << std::strerror(errno);
  } else {
    try {
      rank1.receive(0, 3, Deadline::after_seconds(0.3));
      ADD_FAILURE() << "another user's descriptor was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), tdmRemoteError) << e.what();  // timed out: it was dropped
    }
  }
  Fd real = file_with("real");
  rank0.send(1, 3, real.get(), Deadline::after_seconds(20));
  EXPECT_EQ(read_all(rank1.receive(0, 3, Deadline::after_seconds(20)).get()), "real");
}

}  // namespace
}  // namespace tdm::mem
