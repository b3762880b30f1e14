// Passing file descriptors between ranks of a host (mem/fd_passing.h), here
// two FdPassing endpoints in one process (SCM_RIGHTS works the same between
// threads): the received descriptor reads the sender's file, tags that
// arrive out of order are kept for later, and a missing one times out.
#include "mem/fd_passing.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace
}  // namespace tdm::mem
