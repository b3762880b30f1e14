// C entry points: version, result strings, the last error.
#include "api/guard.h"
#include "api/validate.h"
#include "tandem/tandem.h"

using namespace tdm;
using namespace tdm::api;

TDM_EXPORT tdmResult_t tdmGetVersion(int* version) {
  return guarded("tdmGetVersion", [&] {
    check_not_null(version, "version");
    *version = TDM_VERSION_CODE;
  });
}

TDM_EXPORT const char* tdmGetErrorString(tdmResult_t result_arg) {
  // Any int may come from C (enum_arg): switch on the int, not the enum.
  switch (enum_arg(result_arg)) {
    case tdmSuccess:
      return "no error";
    case tdmUnhandledCudaError:
      return "unhandled cuda error (run with TANDEM_DEBUG=INFO for details)";
    case tdmSystemError:
      return "unhandled system error (run with TANDEM_DEBUG=INFO for details)";
    case tdmInternalError:
      return "internal error - please report this issue to the Tandem developers";
    case tdmInvalidArgument:
      return "invalid argument (run with TANDEM_DEBUG=WARN for details)";
    case tdmInvalidUsage:
      return "invalid usage (run with TANDEM_DEBUG=WARN for details)";
    case tdmRemoteError:
      return "remote process exited or there was a network error";
    case tdmInProgress:
      return "Tandem operation in progress";
    default:
      return "unknown result code";
  }
}

TDM_EXPORT const char* tdmGetLastError(tdmComm_t) { return last_error(); }
