#include "util/fd.h"

#include <unistd.h>

namespace tdm {

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace tdm
