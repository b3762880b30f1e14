# Generates nccl.h from Tandem's public header (include/tandem/tandem.h, which
# mirrors NCCL 2.28's API with the prefix tdm): tdm -> nccl, TDM_ -> NCCL_,
# NCCL's version macros for the API level the shim implements, the CUDA
# headers NCCL's users expect nccl.h to bring, and the shim's own
# declarations (nccl_extras.h). Run as a script:
#   cmake -DIN=tandem.h -DEXTRAS=nccl_extras.h -DOUT=nccl.h -P make_nccl_h.cmake
file(READ ${IN} text)
file(READ ${EXTRAS} extras)

# The banner of tandem.h speaks of Tandem's prefix; ours says what this is.
string(FIND "${text}" "#ifndef TANDEM_TANDEM_H_" body_start)
if(body_start LESS 0)
  message(FATAL_ERROR "${IN}: include guard TANDEM_TANDEM_H_ not found")
endif()
string(SUBSTRING "${text}" ${body_start} -1 text)
string(REPLACE "TANDEM_TANDEM_H_" "NCCL_H_" text "${text}")

# Version: the NCCL API level implemented, not Tandem's own version.
foreach(pair "MAJOR;2" "MINOR;28" "PATCH;9")
  list(GET pair 0 what)
  list(GET pair 1 value)
  string(REGEX REPLACE "#define TDM_${what} [0-9]+" "#define TDM_${what} ${value}" text "${text}")
endforeach()
string(REGEX REPLACE "#define TDM_VERSION_CODE [^\n]*" "#define TDM_VERSION_CODE 22809" text "${text}")

# The CUDA types NCCL's users get from nccl.h (nccl-tests tests bfloat16 and
# fp8 only when cuda_bf16.h / cuda_fp8.h were included): in C++ and CUDA, when
# the CUDA headers are on the include path. Plain C and hosts without CUDA
# compile without them (cudaStream_t is declared below either way).
set(cuda_includes [=[#include <stddef.h>

#if defined(__cplusplus) && defined(__has_include)
#if __has_include(<cuda_runtime.h>)
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#if defined(CUDART_VERSION) && CUDART_VERSION >= 11000
#include <cuda_bf16.h>
#endif
#if defined(CUDART_VERSION) && CUDART_VERSION >= 11080
#include <cuda_fp8.h>
#endif
#endif
#endif]=])
string(REPLACE "#include <stddef.h>" "${cuda_includes}" text "${text}")

# The shim's declarations, inside the extern "C" block.
set(closing "#ifdef __cplusplus\n} /* extern \"C\" */")
string(FIND "${text}" "${closing}" at REVERSE)
if(at LESS 0)
  message(FATAL_ERROR "${IN}: closing extern \"C\" block not found")
endif()
string(SUBSTRING "${text}" 0 ${at} head)
string(SUBSTRING "${text}" ${at} -1 tail)
set(text "${head}${extras}\n${tail}")

string(REPLACE "tdm" "nccl" text "${text}")
string(REPLACE "TDM_" "NCCL_" text "${text}")
# "Tandem extension" declarations stay: the shim exports them too.

set(banner [=[/*
 * nccl.h for Tandem's libnccl.so.2 (tools/nccl_shim), GENERATED at build time
 * from include/tandem/tandem.h: do not edit. The NCCL 2.28 API, as
 * implemented by Tandem; comments speak of Tandem, whose behaviour this is.
 */
]=])
file(WRITE ${OUT}.tmp "${banner}${text}")
# Only a changed header touches dependents.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
