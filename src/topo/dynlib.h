// A dlopen'ed library and its symbols: NVML, libcudart and libibverbs are
// loaded this way so libtandem has no hard dependency on them.
#pragma once

#include <dlfcn.h>

#include <initializer_list>
#include <string>

namespace tdm::topo::detail {

// A dlopen handle closed on destruction. Opened with RTLD_NODELETE: the CUDA
// runtime and verbs providers install handlers (atexit, fork) that must outlive
// us, so the code stays mapped; closing only drops our reference.
class DynLib {
 public:
  DynLib(std::initializer_list<const char*> names) {
    // A copy the process already loaded (e.g. the framework's libcudart) first.
    for (int pass = 0; pass < 2 && !handle_; ++pass) {
      for (const char* n : names) {
        int flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | (pass == 0 ? RTLD_NOLOAD : 0);
        if ((handle_ = dlopen(n, flags))) {
          name_ = n;
          break;
        }
      }
    }
  }
  ~DynLib() {
    if (handle_) dlclose(handle_);
  }
  DynLib(const DynLib&) = delete;
  DynLib& operator=(const DynLib&) = delete;

  explicit operator bool() const { return handle_ != nullptr; }
  const std::string& name() const { return name_; }
  template <typename Fn>
  Fn sym(const char* symbol) const {
    return handle_ ? reinterpret_cast<Fn>(dlsym(handle_, symbol)) : nullptr;
  }

 private:
  void* handle_ = nullptr;
  std::string name_;
};

}  // namespace tdm::topo::detail
