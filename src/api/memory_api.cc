// C entry points: memory allocation, buffer registration and windows.
#include <sys/mman.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string>

#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "comm/comm.h"
#include "comm/cuda_side.h"
#include "tandem/shmem.h"
#include "tandem/tandem.h"

using namespace tdm;
using namespace tdm::api;

namespace {

// tdmMemAlloc without a CUDA device: page-aligned anonymous mappings.
struct HostAllocations {
  std::mutex mutex;
  std::map<void*, size_t> size_of;
};
HostAllocations& host_allocations() {
  static HostAllocations* a = new HostAllocations();  // never destroyed: frees may come at exit
  return *a;
}

}  // namespace

// ---- memory ----

TDM_EXPORT tdmResult_t tdmMemAlloc(void** ptr, size_t size) {
  return guarded("tdmMemAlloc", [&] {
    check_not_null(ptr, "ptr");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
    // With a device: cuMem memory that windows can share through POSIX FDs.
    if (void* shareable = cuda_side::mem_alloc(size)) {
      *ptr = shareable;
      return;
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_system_error("mmap of " + std::to_string(size) + " bytes", errno);
    HostAllocations& host = host_allocations();
    std::lock_guard lock(host.mutex);
    host.size_of[p] = size;
    *ptr = p;
  });
}

TDM_EXPORT tdmResult_t tdmMemFree(void* ptr) {
  return guarded("tdmMemFree", [&] {
    if (ptr == nullptr) return;
    if (cuda_side::mem_free(ptr)) return;
    HostAllocations& host = host_allocations();
    std::lock_guard lock(host.mutex);
    auto it = host.size_of.find(ptr);
    if (it == host.size_of.end())
      throw_error(tdmInvalidArgument, "pointer was not returned by tdmMemAlloc (or freed twice)");
    ::munmap(it->first, it->second);
    host.size_of.erase(it);
  });
}

// ---- registration and windows ----

TDM_EXPORT tdmResult_t tdmCommRegister(const tdmComm_t comm, void* buff, size_t size,
                                       void** handle) {
  return guarded("tdmCommRegister", [&] {
    Comm& c = checked(comm);
    check_not_null(buff, "buff");
    check_not_null(handle, "handle");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
    *handle = cuda_side::register_buffer(c, buff, size);
  });
}

TDM_EXPORT tdmResult_t tdmCommDeregister(const tdmComm_t comm, void* handle) {
  return guarded("tdmCommDeregister", [&] {
    Comm& c = checked(comm);
    check_not_null(handle, "handle");
    cuda_side::deregister_buffer(c, handle);
  });
}

TDM_EXPORT tdmResult_t tdmCommWindowRegister(tdmComm_t comm, void* buff, size_t size,
                                             tdmWindow_t* win, int winFlags) {
  return guarded("tdmCommWindowRegister", [&] {
    Comm& c = checked(comm);
    check_not_null(buff, "buff");
    check_not_null(win, "win");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
    if (winFlags != TDM_WIN_DEFAULT && winFlags != TDM_WIN_COLL_SYMMETRIC)
      throw_error(tdmInvalidArgument, "winFlags ", winFlags, " is not a TDM_WIN_* value");
    InFlight busy(c);
    *win = cuda_side::register_window(c, buff, size, winFlags == TDM_WIN_COLL_SYMMETRIC);
  });
}

TDM_EXPORT tdmResult_t tdmCommWindowDeregister(tdmComm_t comm, tdmWindow_t win) {
  return guarded("tdmCommWindowDeregister", [&] {
    Comm& c = checked(comm);
    cuda_side::deregister_window(c, win);
  });
}

TDM_EXPORT tdmResult_t tdmWindowPeerPointer(tdmWindow_t win, int peer, size_t offset, void** ptr) {
  return guarded("tdmWindowPeerPointer", [&] {
    check_not_null(ptr, "ptr");
    *ptr = cuda_side::window_peer_pointer(win, peer, offset);
  });
}

TDM_EXPORT tdmResult_t tdmWindowGetDevice(tdmWindow_t win, tdmWindowDevice_t* handle) {
  return guarded("tdmWindowGetDevice", [&] {
    check_not_null(handle, "handle");
    *handle = cuda_side::window_device(win);
  });
}
