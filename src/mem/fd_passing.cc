#include "mem/fd_passing.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "util/error.h"

namespace tdm::mem {

namespace {

struct Header {
  uint64_t tag;
  int32_t rank;
  int32_t padding;
};

sockaddr_un make_address(const std::string& name, socklen_t& length) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Abstract namespace: leading NUL, no file to clean up.
  std::memcpy(addr.sun_path + 1, name.data(), std::min(name.size(), sizeof(addr.sun_path) - 2));
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                  std::min(name.size(), sizeof(addr.sun_path) - 2));
  return addr;
}

}  // namespace

std::string FdPassing::address_of(int rank) const {
  char name[64];
  std::snprintf(name, sizeof(name), "tandem-%016llx-%d", static_cast<unsigned long long>(nonce_),
                rank);
  return name;
}

FdPassing::FdPassing(uint64_t comm_nonce, int rank) : nonce_(comm_nonce), rank_(rank) {
  socket_ = Fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_.valid()) throw_system_error("socket(AF_UNIX)", errno);
  socklen_t length = 0;
  sockaddr_un addr = make_address(address_of(rank_), length);
  if (::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), length) != 0)
    throw_system_error("bind of the fd-passing socket " + address_of(rank_), errno);
}

void FdPassing::send(int peer, uint64_t tag, int fd, const Deadline& deadline) {
  socklen_t length = 0;
  sockaddr_un addr = make_address(address_of(peer), length);
  Header header{tag, rank_, 0};
  iovec iov{&header, sizeof(header)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = length;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  for (;;) {
    if (::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(header)))
      return;
    // Full receive queue (EAGAIN) or a peer that has not bound yet: retry.
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED && errno != ENOENT &&
        errno != EINTR)
      throw_system_error("sending a memory handle to rank " + std::to_string(peer), errno);
    deadline.check("passing a memory handle to rank " + std::to_string(peer));
    ::usleep(200);
  }
}

Fd FdPassing::receive(int peer, uint64_t tag, const Deadline& deadline) {
  for (;;) {
    auto it = early_.find({peer, tag});
    if (it != early_.end()) {
      Fd fd = std::move(it->second);
      early_.erase(it);
      return fd;
    }
    Header header{};
    iovec iov{&header, sizeof(header)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t got = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        throw_system_error("receiving a memory handle", errno);
      deadline.check("waiting for a memory handle from rank " + std::to_string(peer));
      pollfd p{socket_.get(), POLLIN, 0};
      ::poll(&p, 1, deadline.poll_ms());
      continue;
    }
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (got != static_cast<ssize_t>(sizeof(header)) || cmsg == nullptr ||
        cmsg->cmsg_type != SCM_RIGHTS)
      throw_error(tdmSystemError, "malformed memory-handle message on the fd-passing socket");
    int received = -1;
    std::memcpy(&received, CMSG_DATA(cmsg), sizeof(int));
    early_[{header.rank, header.tag}] = Fd(received);
  }
}

}  // namespace tdm::mem
