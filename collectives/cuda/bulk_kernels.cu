// Bandwidth kernels: data cut in pieces of at most a slot, piece k carried by
// channel (block) k % channels; each step pushes pieces into peers' slots and
// consumes the pieces peers pushed here (see Channel in device_common.cuh).
// Allreduce is a direct reduce-scatter then allgather: rank r reduces shard r
// from every rank's pushed piece and pushes the result back to every rank.
#include "collectives/cuda/device_common.cuh"
#include "collectives/cuda/launch.h"
#include "collectives/cuda/type_dispatch.cuh"

namespace tdm::cuda {

namespace {

__device__ __forceinline__ size_t dclamp(size_t total, size_t begin, size_t len) {
  return begin >= total ? 0 : (total - begin < len ? total - begin : len);
}

// Piece length (in units of `align` elements or bytes) for `total` units
// over `channels` blocks: small enough that every block gets a piece, at
// least kMinPieceBytes so a piece's handshake stays cheap, at most a slot.
constexpr size_t kMinPieceBytes = 16 << 10;
__host__ __device__ __forceinline__ size_t piece_for(size_t total, size_t unit_bytes,
                                                     size_t slot_bytes, int channels) {
  const size_t align = 16 / unit_bytes > 0 ? 16 / unit_bytes : 1;
  const size_t slot = slot_bytes / unit_bytes / align * align;
  size_t per = (total + channels - 1) / channels;
  const size_t floor = kMinPieceBytes / unit_bytes;
  if (per < floor) per = floor;
  per = (per + align - 1) / align * align;
  return per < slot ? per : slot;
}

// Reducing collectives: allreduce, reduce-scatter, reduce.
template <typename T, RedKind R>
__global__ void __launch_bounds__(kThreads)
    bulk_reduce_kernel(DevComm c, CollArgs a, size_t shard, size_t slot) {
  __shared__ uint64_t sent[kMaxRanks], received[kMaxRanks];
  const int ch = blockIdx.x;
  channel_load(c, ch, sent, received);
  Channel chan{c, ch, sent, received};
  const Arith<T> ar(a);
  const int n = c.nranks, me = c.rank;
  const uint32_t peers = all_peers(c);
  const T* in = static_cast<const T*>(a.send);
  T* out = static_cast<T*>(a.recv);
  const size_t pieces = (shard + slot - 1) / slot;
  const T* srcs[kMaxRanks];
  for (size_t k = ch; k < pieces; k += gridDim.x) {
    const size_t off = k * slot;
    if (a.kind == CallKind::kReduce) {
      const size_t len = dclamp(a.count, off, slot);
      if (me != a.root) {
        chan.send_begin(1u << a.root);
        block_copy_scaled(reinterpret_cast<T*>(chan.out_slot(a.root)), in + off, len, ar);
        chan.send_end(1u << a.root);
        continue;
      }
      chan.recv_begin(peers);
      for (int r = 0; r < n; ++r) srcs[r] = reinterpret_cast<const T*>(chan.in_slot(r));
      block_reduce<T, R>(out + off, in + off, srcs, n, me, len, ar);
      chan.recv_end(peers);
      continue;
    }
    // Reduce-scatter part: shard p of the input goes to rank p.
    const size_t total = a.kind == CallKind::kAllReduce ? a.count : a.count * n;
    chan.send_begin(peers);
    for (int p = 0; p < n; ++p)
      if (p != me)
        block_copy_scaled(reinterpret_cast<T*>(chan.out_slot(p)), in + p * shard + off,
                          dclamp(total, p * shard + off, dclamp(shard, off, slot)), ar);
    chan.send_end(peers);
    chan.recv_begin(peers);
    for (int r = 0; r < n; ++r) srcs[r] = reinterpret_cast<const T*>(chan.in_slot(r));
    const size_t my_len = dclamp(total, me * shard + off, dclamp(shard, off, slot));
    T* reduced = a.kind == CallKind::kAllReduce ? out + me * shard + off : out + off;
    block_reduce<T, R>(reduced, in + me * shard + off, srcs, n, me, my_len, ar);
    chan.recv_end(peers);
    if (a.kind != CallKind::kAllReduce) continue;
    // Allgather part: our reduced piece to everyone.
    chan.send_begin(peers);
    for (int p = 0; p < n; ++p)
      if (p != me)
        block_copy(chan.out_slot(p), reinterpret_cast<const char*>(reduced), my_len * sizeof(T));
    chan.send_end(peers);
    chan.recv_begin(peers);
    for (int p = 0; p < n; ++p)
      if (p != me)
        block_copy(reinterpret_cast<char*>(out + p * shard + off), chan.in_slot(p),
                   dclamp(total, p * shard + off, dclamp(shard, off, slot)) * sizeof(T));
    chan.recv_end(peers);
  }
  channel_store(c, ch, sent, received, true, true);
}

// Moving collectives on bytes: allgather, all-to-all, broadcast, gather, scatter.
__global__ void __launch_bounds__(kThreads)
    bulk_move_kernel(DevComm c, CollArgs a, size_t bytes, size_t slot) {
  __shared__ uint64_t sent[kMaxRanks], received[kMaxRanks];
  const int ch = blockIdx.x;
  channel_load(c, ch, sent, received);
  Channel chan{c, ch, sent, received};
  const int n = c.nranks, me = c.rank, root = a.root;
  const uint32_t peers = all_peers(c);
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  const size_t pieces = (bytes + slot - 1) / slot;
  // Per kind: what this rank sends to whom and receives from whom, where its
  // own block goes, and where piece data lands.
  uint32_t to = 0, from = 0;
  const char* own_src = nullptr;
  char* own_dst = nullptr;
  switch (a.kind) {
    case CallKind::kAllGather:
      to = from = peers;
      own_src = in;
      own_dst = out + me * bytes;
      break;
    case CallKind::kAlltoAll:
      to = from = peers;
      own_src = in + me * bytes;
      own_dst = out + me * bytes;
      break;
    case CallKind::kBroadcast:
      to = me == root ? peers : 0;
      from = me == root ? 0 : 1u << root;
      if (me == root) own_src = in, own_dst = out;
      break;
    case CallKind::kGather:
      to = me == root ? 0 : 1u << root;
      from = me == root ? peers : 0;
      if (me == root) own_src = in, own_dst = out + me * bytes;
      break;
    default:  // scatter
      to = me == root ? peers : 0;
      from = me == root ? 0 : 1u << root;
      if (me == root) own_src = in + me * bytes, own_dst = out;
      break;
  }
  auto src_for = [&](int p) -> const char* {
    return (a.kind == CallKind::kAlltoAll || a.kind == CallKind::kScatter) ? in + p * bytes : in;
  };
  auto dst_for = [&](int p) -> char* {
    return (a.kind == CallKind::kAllGather || a.kind == CallKind::kAlltoAll ||
            a.kind == CallKind::kGather)
               ? out + p * bytes
               : out;
  };
  for (size_t k = ch; k < pieces; k += gridDim.x) {
    const size_t off = k * slot, len = dclamp(bytes, off, slot);
    if (to) {
      chan.send_begin(to);
      for (int p = 0; p < n; ++p)
        if (to >> p & 1u) block_copy(chan.out_slot(p), src_for(p) + off, len);
      chan.send_end(to);
    }
    if (own_src && own_src != own_dst) block_copy(own_dst + off, own_src + off, len);
    if (from) {
      chan.recv_begin(from);
      for (int p = 0; p < n; ++p)
        if (from >> p & 1u) block_copy(dst_for(p) + off, chan.in_slot(p), len);
      chan.recv_end(from);
    }
  }
  channel_store(c, ch, sent, received, true, true);
}

// Grouped point-to-point: blocks [0, C) carry the sends, [C, 2C) the receives,
// so a rank's sends never wait behind its own receives.
__global__ void __launch_bounds__(kThreads) p2p_kernel(DevComm c, P2pArgs a) {
  __shared__ uint64_t sent[kMaxRanks], received[kMaxRanks];
  const bool sender = blockIdx.x < static_cast<unsigned>(a.channels);
  const int ch = sender ? blockIdx.x : blockIdx.x - a.channels;
  channel_load(c, ch, sent, received);
  Channel chan{c, ch, sent, received};
  for (int i = 0; i < a.nops; ++i) {
    const P2pOp& op = a.ops[i];
    if ((op.is_send != 0) != sender) continue;
    const size_t slot = piece_for(op.bytes, 1, c.slot_bytes, a.channels);
    const size_t pieces = (op.bytes + slot - 1) / slot;
    const uint32_t mask = 1u << op.peer;
    for (size_t k = ch; k < pieces; k += a.channels) {
      const size_t off = k * slot, len = dclamp(op.bytes, off, slot);
      if (sender) {
        chan.send_begin(mask);
        block_copy(chan.out_slot(op.peer), op.buffer + off, len);
        chan.send_end(mask);
      } else {
        chan.recv_begin(mask);
        block_copy(op.buffer + off, chan.in_slot(op.peer), len);
        chan.recv_end(mask);
      }
    }
  }
  channel_store(c, ch, sent, received, sender, !sender);
}

int blocks_for(size_t pieces, int max_blocks) {
  if (pieces < 1) pieces = 1;
  return static_cast<int>(pieces < size_t(max_blocks) ? pieces : size_t(max_blocks));
}

// Chunk k of copy j is work item k * n + j, items striped over the blocks.
constexpr size_t kCopyChunk = 256 << 10;
__global__ void __launch_bounds__(kThreads) copy_list_kernel(CopyList l) {
  const size_t chunks = (l.bytes + kCopyChunk - 1) / kCopyChunk;
  for (size_t item = blockIdx.x; item < chunks * l.n; item += gridDim.x) {
    const int j = static_cast<int>(item % l.n);
    const size_t off = item / l.n * kCopyChunk;
    block_copy(l.dst[j] + off, l.src[j] + off, dclamp(l.bytes, off, kCopyChunk));
  }
}

}  // namespace

cudaError_t launch_bulk(const DevComm& c, const CollArgs& a, cudaStream_t stream) {
  return dispatch_type(a.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.kind == CallKind::kAllReduce || a.kind == CallKind::kReduceScatter ||
        a.kind == CallKind::kReduce) {
      // Allreduce shards are rounded to 16 bytes so every piece stays aligned.
      constexpr size_t V = 16 / sizeof(T);
      size_t shard = a.count;
      if (a.kind == CallKind::kAllReduce)
        shard = ((a.count + c.nranks - 1) / c.nranks + V - 1) / V * V;
      const size_t piece = piece_for(shard, sizeof(T), c.slot_bytes, a.channels);
      const int blocks = blocks_for((shard + piece - 1) / piece, a.channels);
      return dispatch_red(a.red, [&](auto red) {
        bulk_reduce_kernel<T, decltype(red)::value>
            <<<blocks, kThreads, 0, stream>>>(c, a, shard, piece);
        return cudaGetLastError();
      });
    }
    const size_t bytes = a.count * sizeof(T);
    const size_t piece = piece_for(bytes, 1, c.slot_bytes, a.channels);
    const int blocks = blocks_for((bytes + piece - 1) / piece, a.channels);
    bulk_move_kernel<<<blocks, kThreads, 0, stream>>>(c, a, bytes, piece);
    return cudaGetLastError();
  });
}

cudaError_t launch_copy_list(const CopyList& l, cudaStream_t stream) {
  if (l.n == 0 || l.bytes == 0) return cudaSuccess;
  copy_list_kernel<<<kMaxChannels, kThreads, 0, stream>>>(l);
  return cudaGetLastError();
}

cudaError_t launch_p2p(const DevComm& c, const P2pArgs& a, cudaStream_t stream) {
  p2p_kernel<<<2 * a.channels, kThreads, 0, stream>>>(c, a);
  return cudaGetLastError();
}

}  // namespace tdm::cuda
