// The fused ops' flags: 32-bit words in the symmetric workspace, each raised
// (set to 1) by one rank and awaited, then lowered (set to 0), by the rank
// that owns it. Set-and-reset instead of increasing epochs keeps a captured
// CUDA graph correct on every replay: the values it waits for never change.
//
// Both halves are stream-ordered. By default they are stream memory
// operations (cuStreamWriteValue32 / cuStreamWaitValue32): no SM, no launch,
// and the write carries a memory barrier, so everything the stream did
// before (a copy into the peer's memory) is visible before the flag is.
// TANDEM_FUSED_FLAGS=kernel uses one-thread kernels instead.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tdm::fused {

enum class FlagMethod { kMemop, kKernel };

// *flag = 1 once the stream's earlier work is complete and visible; `flag`
// may be a peer's (a symmetric-heap peer pointer).
void raise_flag(uint32_t* flag, cudaStream_t stream, FlagMethod method);
// The stream waits until *flag == 1, then sets it to 0; `flag` is local.
void await_flag(uint32_t* flag, cudaStream_t stream, FlagMethod method);

}  // namespace tdm::fused
