#include "mem/fd_passing.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "util/error.h"
#include "util/log.h"

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
  // The abstract namespace has no permissions: anyone on the host can send
  // here. The kernel stamps every datagram with its sender's credentials, and
  // only our own user's are taken (docs/threat-model.md).
  int one = 1;
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0)
    throw_system_error("SO_PASSCRED on the fd-passing socket", errno);
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
    // Room for one descriptor and the credentials; more is truncated (MSG_CTRUNC).
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(ucred))] = {};
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
    // Take ownership of whatever descriptors arrived before judging the
    // message, so a dropped one closes them.
    Fd received;
    const ucred* sender = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_RIGHTS) {
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd = -1;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          Fd owned(fd);
          if (i == 0 && !received.valid()) received = std::move(owned);  // extra ones: closed
        }
      } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        sender = reinterpret_cast<const ucred*>(CMSG_DATA(c));
      }
    }
    std::string problem;
    if (got != static_cast<ssize_t>(sizeof(header)) || !received.valid() ||
        (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
      problem = "not a memory-handle message";
    else if (sender == nullptr || sender->uid != ::geteuid())
      problem = "sent by another user (uid " +
                (sender ? std::to_string(sender->uid) : std::string("unknown")) + ")";
    else if (header.rank < 0 || header.rank == rank_)
      problem = "claims rank " + std::to_string(header.rank);
    if (!problem.empty()) {
      // A stray or hostile datagram must not fail the job: drop it.
      TDM_WARN("MEM", "rank ", rank_, " dropped a datagram on its fd-passing socket: ", problem);
      continue;
    }
    early_[{header.rank, header.tag}] = std::move(received);
  }
}

}  // namespace tdm::mem
