// What Tandem's own collective kernels know about the communicator: plain
// data passed by value to every launch (host and device compile it; C++17).
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan/collective.h"
#include "plan/reduction.h"

namespace tdm::cuda {

constexpr int kMaxRanks = 8;  // ranks a CUDA collective kernel serves (all load/store reachable)
constexpr int kMaxChannels = 128;  // blocks of one collective kernel
constexpr int kMaxP2pOps = 64;     // send/recv operations of one group launch
constexpr int kThreads = 512;      // threads per block of the collective kernels

struct DevComm {
  int rank;
  int nranks;
  char* heap;             // this rank's symmetric heap
  long long peer_stride;  // as tdmShmemDevice_t: nonzero when heaps are contiguous
  const uintptr_t* peer_heaps;
  // Internal regions, as offsets into every rank's heap.
  size_t ll_offset;     // [parity][src][line]: low-latency lines of 16 bytes
  size_t ll_lines;      // lines per (parity, src): 8 data bytes each
  size_t slots_offset;  // [channel][src][depth] slots of slot_bytes
  size_t slot_bytes;
  int depth;
  int channels;         // channels (blocks) configured
  size_t ready_offset;  // uint64 [channel][src]: messages delivered here from src
  size_t ack_offset;    // uint64 [channel][dst]: messages dst consumed from us
  // This rank's device-local state (not symmetric).
  uint32_t* ll_counter;  // [0]: calls done, [1]: blocks finished in the current call
  uint64_t* sent;        // [channel][peer]: messages sent (persistent across launches)
  uint64_t* received;    // [channel][peer]: messages consumed
  unsigned long long timeout_ns;
  int* error;  // host-mapped: nonzero once a device wait timed out
};

using plan::CallKind;
// Reduction kinds the kernels implement (avg and premulsum are sum plus a
// divisor or a scale).
using RedKind = plan::ReduceKind;

struct CollArgs {
  CallKind kind;
  int type;  // tdmDataType_t
  RedKind red;
  int root;
  const void* send;
  void* recv;
  size_t count;
  int divisor;             // avg: divide by this (0: none)
  int premul;              // premulsum: scale this rank's input by the scalar
  uint64_t scalar_bits;    // host-immediate scalar, in the call's type
  const void* scalar_ptr;  // device scalar (read by the kernel), or null
  int channels;            // blocks in this launch
  int vector_ok;           // every pointer 16-byte aligned
};

struct P2pOp {
  int peer;
  int is_send;
  char* buffer;
  size_t bytes;
};

struct P2pArgs {
  int nops;
  int channels;  // blocks per direction: blocks [0, channels) send, [channels, 2*channels) receive
  P2pOp ops[kMaxP2pOps];
};

}  // namespace tdm::cuda
