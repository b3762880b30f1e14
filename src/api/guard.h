// The one place exceptions become results: every C entry point runs its body
// through guarded(), which returns tdmSuccess, or the error's code with the
// thread's last-error sentence set ("tdmAllReduce: root 7 is out of range ...").
#pragma once

#include <new>
#include <string>

#include "tandem/tandem.h"
#include "util/error.h"
#include "util/log.h"

#define TDM_EXPORT extern "C" __attribute__((visibility("default")))

namespace tdm::api {

template <typename F>
tdmResult_t guarded(const char* function, F&& body) {
  try {
    body();
    return tdmSuccess;
  } catch (const Error& e) {
    set_last_error(std::string(function) + ": " + e.what());
    TDM_INFO("API", function, " failed: ", e.what());
    return e.code();
  } catch (const std::bad_alloc&) {
    set_last_error(std::string(function) + ": out of memory");
    return tdmSystemError;
  } catch (const std::exception& e) {
    set_last_error(std::string(function) + ": internal error: " + e.what());
    return tdmInternalError;
  }
}

}  // namespace tdm::api
