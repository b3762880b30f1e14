// Device buffers of a case of collectives_gpu_test: placing them, poisoning
// and uploading, making the call, reading back and checking every byte (see
// collectives_harness.h).
#include "collectives_harness.h"

namespace collectives_gpu_test {

// ---- buffers ----

// The sweeps reuse three grow-only allocations (the engine never keeps user
// buffers mapped, so reuse is safe, and the poison makes stale data visible).
struct Slot {
  void* p = nullptr;
  size_t capacity = 0;
};
Slot g_arena[3];
uint8_t* arena(int slot, size_t bytes) {
  Slot& s = g_arena[slot];
  if (bytes > s.capacity) {
    CUDA_OK(cudaStreamSynchronize(g_stream));
    if (s.p) CUDA_OK(cudaFree(s.p));
    s.p = nullptr;
    s.capacity = 0;
    if (CUDA_OK(cudaMalloc(&s.p, bytes))) s.capacity = bytes;
  }
  return static_cast<uint8_t*>(s.p);
}
void free_arena() {
  for (Slot& s : g_arena) {
    if (s.p) cudaFree(s.p);
    s = Slot{};
  }
}

namespace {
std::unique_ptr<DeviceAllocs> g_kept[2];  // cudaMalloc, tdmMemAlloc
}  // namespace

DeviceAllocs& kept_allocs(bool tdm) {
  std::unique_ptr<DeviceAllocs>& kept = g_kept[tdm ? 1 : 0];
  if (!kept) kept = std::make_unique<DeviceAllocs>(tdm);
  return *kept;
}

void free_kept_allocs() {
  for (std::unique_ptr<DeviceAllocs>& kept : g_kept) kept.reset();
}

Bufs place(const Case& c, const Alloc& alloc) {
  const size_t es = type_size(c.type);
  const Layout l = layout(c);
  auto region = [&](int slot, size_t elems) {
    Region r;
    r.elems = elems;
    r.payload = kGuard + c.shift * es;
    r.bytes = r.payload + elems * es + kGuard;
    r.base = alloc(slot, r.bytes);
    if (r.base == nullptr) FAIL_CASE("no device memory for " + describe(c));
    return r;
  };
  Bufs b;
  if (in_place(c)) {
    b.a = region(0, l.buf);
    b.send = b.a.base + b.a.payload + l.send_at * es;
    b.recv = b.a.base + b.a.payload + l.recv_at * es;
  } else {
    b.a = region(0, l.send);
    b.b = region(1, l.recv);
    b.send = b.a.base + b.a.payload;
    b.recv = b.b.base + b.b.payload;
  }
  if (c.op == kPremulDevice) b.scalar = alloc(2, 16);
  return b;
}

// Poisons the buffers and writes this rank's input (and device scalar), in
// stream order on g_stream.
void upload(const Case& c, const Bufs& b) {
  if (!b.a.base) return;
  const size_t es = type_size(c.type);
  const Layout l = layout(c);
  std::vector<uint8_t> image(b.a.bytes, kPoison);
  const size_t at = b.a.payload + (in_place(c) ? l.send_at * es : 0);
  for (size_t j = 0; j < l.send; ++j) store(&image[at + j * es], input(c, c.ctx->rank, j).bits, es);
  // From pageable memory: the call returns once the image is staged.
  CUDA_OK(cudaMemcpyAsync(b.a.base, image.data(), image.size(), cudaMemcpyHostToDevice, g_stream));
  if (b.b.base) CUDA_OK(cudaMemsetAsync(b.b.base, kPoison, b.b.bytes, g_stream));
  if (b.scalar) {
    const uint64_t s = scalar_bits(c, c.ctx->rank);
    CUDA_OK(cudaMemcpyAsync(b.scalar, &s, es, cudaMemcpyHostToDevice, g_stream));
  }
}

tdmResult_t issue_p2p(const Case& c, char* s, char* r) {
  const Ctx& x = *c.ctx;
  const int next = (x.rank + 1) % x.n, prev = (x.rank + x.n - 1) % x.n;
  const size_t k = c.count, es = type_size(c.type);
  const tdmDataType_t t = c.type;
  tdmResult_t first = tdmSuccess;
  auto keep = [&](tdmResult_t got) {
    if (first == tdmSuccess) first = got;
  };
  keep(tdmGroupStart());
  switch (c.coll) {
    case Coll::kRing: {
      // Two messages each way: the receives must match the sends in call order.
      const size_t k2 = ring_second(k);
      keep(tdmSend(s, k, t, next, x.comm, c.stream));
      keep(tdmRecv(r, k, t, prev, x.comm, c.stream));
      keep(tdmSend(s + k * es, k2, t, next, x.comm, c.stream));
      keep(tdmRecv(r + k * es, k2, t, prev, x.comm, c.stream));
      break;
    }
    case Coll::kAllPairs:
      for (int p = 0; p < x.n; ++p) {
        keep(tdmRecv(r + p * k * es, k, t, p, x.comm, c.stream));
        keep(tdmSend(s + p * k * es, k, t, p, x.comm, c.stream));
      }
      break;
    default:  // self
      keep(tdmSend(s, k, t, x.rank, x.comm, c.stream));
      keep(tdmRecv(r, k, t, x.rank, x.comm, c.stream));
  }
  const tdmResult_t end = tdmGroupEnd();
  return first != tdmSuccess ? first : end;
}

// Makes the case's call (creating and destroying its premulsum op around it).
tdmResult_t issue(const Case& c, const Bufs& b) {
  const Ctx& x = *c.ctx;
  const tdmDataType_t t = c.type;
  const size_t k = c.count;
  tdmRedOp_t op = tdmSum;
  bool custom = false;
  if (reduces(c.coll)) {
    if (premul(c.op)) {
      uint64_t host = scalar_bits(c, x.rank);
      const bool device = c.op == kPremulDevice;
      custom = TDM_OK(tdmRedOpCreatePreMulSum(&op, device ? b.scalar : &host, t,
                                              device ? tdmScalarDevice : tdmScalarHostImmediate,
                                              x.comm));
      if (!custom) op = tdmSum;  // the call is still made: every rank must make it
      host = ~host;  // host-immediate: read at creation, so later changes must not matter
    } else {
      op = static_cast<tdmRedOp_t>(c.op);
    }
  }
  char* s = static_cast<char*>(b.send);
  char* r = static_cast<char*>(b.recv);
  if (c.null_unused && x.rank != c.root) {
    if (c.coll == Coll::kBroadcast || c.coll == Coll::kScatter) s = nullptr;
    if (c.coll == Coll::kReduce || c.coll == Coll::kGather) r = nullptr;
  }
  tdmResult_t result = tdmSuccess;
  switch (c.coll) {
    case Coll::kAllReduce:
      result = tdmAllReduce(s, r, k, t, op, x.comm, c.stream);
      break;
    case Coll::kReduce:
      result = tdmReduce(s, r, k, t, op, c.root, x.comm, c.stream);
      break;
    case Coll::kBroadcast:
      result = c.place == Place::kBcast ? tdmBcast(r, k, t, c.root, x.comm, c.stream)
                                        : tdmBroadcast(s, r, k, t, c.root, x.comm, c.stream);
      break;
    case Coll::kAllGather:
      result = tdmAllGather(s, r, k, t, x.comm, c.stream);
      break;
    case Coll::kReduceScatter:
      result = tdmReduceScatter(s, r, k, t, op, x.comm, c.stream);
      break;
    case Coll::kAlltoAll:
      result = tdmAlltoAll(s, r, k, t, x.comm, c.stream);
      break;
    case Coll::kGather:
      result = tdmGather(s, r, k, t, c.root, x.comm, c.stream);
      break;
    case Coll::kScatter:
      result = tdmScatter(s, r, k, t, c.root, x.comm, c.stream);
      break;
    default:
      result = issue_p2p(c, s, r);
  }
  // NCCL allows destroying the op as soon as the call returned.
  if (custom) TDM_OK(tdmRedOpDestroy(op, x.comm));
  return result;
}

bool issue_ok(const Case& c, const Bufs& b) {
  SCOPED_TRACE(describe(c));
  return TDM_OK(issue(c, b));
}

constexpr int kShown = 6;  // mismatches listed per buffer

// Checks every byte of a region read back: guards poisoned, payload as wanted.
bool check_region(const Case& c, const char* name, const std::vector<uint8_t>& got,
                  const Region& reg, const std::function<Want(size_t)>& want) {
  const tdmDataType_t t = c.type;
  const size_t es = type_size(t), end = reg.payload + reg.elems * es;
  std::ostringstream bad;
  size_t errors = 0;
  auto note = [&](const std::string& line) {
    if (errors++ < kShown) bad << "\n    " << line;
  };
  for (size_t i = 0; i < reg.payload; ++i)
    if (got[i] != kPoison)
      note("guard byte " + std::to_string(reg.payload - i) + " before the payload was written (" +
           std::to_string(got[i]) + ")");
  for (size_t i = end; i < got.size(); ++i)
    if (got[i] != kPoison)
      note("guard byte " + std::to_string(i - end) + " past the payload was written (" +
           std::to_string(got[i]) + ")");
  for (size_t e = 0; e < reg.elems; ++e) {
    const uint64_t g = load(&got[reg.payload + e * es], es);
    const Want w = want(e);
    if (!matches(t, g, w))
      note("[" + std::to_string(e) + "] got " + show(t, g) + ", want " + show_want(t, w));
  }
  if (errors)
    FAIL_CASE(std::string(name) + ": " + std::to_string(errors) + " wrong bytes or elements of " +
              std::to_string(reg.elems) + ", first:" + bad.str());
  return errors == 0;
}

std::vector<uint8_t> read_back(const Region& r) {
  std::vector<uint8_t> host(r.bytes);
  if (r.base)
    CUDA_OK(cudaMemcpyAsync(host.data(), r.base, r.bytes, cudaMemcpyDeviceToHost, g_stream));
  return host;
}

// Reads the buffers back and checks them against the reference.
bool verify(const Case& c, const Bufs& b) {
  SCOPED_TRACE(describe(c));
  if (!b.a.base || (!in_place(c) && !b.b.base)) return false;
  const std::vector<uint8_t> a = read_back(b.a), r = read_back(b.b);
  if (!CUDA_OK(cudaStreamSynchronize(g_stream))) return false;
  const Layout l = layout(c);
  const int me = c.ctx->rank;
  const Want poison = Want::exact(poison_bits(c.type));
  if (in_place(c)) {
    return check_region(c, "in-place buffer", a, b.a, [&](size_t e) {
      if (e >= l.recv_at && e < l.recv_at + l.recv)
        if (std::optional<Want> w = recv_want(c, e - l.recv_at)) return *w;
      if (e >= l.send_at && e < l.send_at + l.send)
        return Want::exact(input(c, me, e - l.send_at).bits);
      return poison;
    });
  }
  bool ok = check_region(c, "sendbuff", a, b.a,
                         [&](size_t e) { return Want::exact(input(c, me, e).bits); });
  ok &= check_region(c, "recvbuff", r, b.b,
                     [&](size_t e) { return recv_want(c, e).value_or(poison); });
  return ok;
}

// One case on the arena buffers: poison, input, call, check.
void run_case(Case c, const Alloc& alloc) {
  c.salt = ++g_salt;
  const Bufs b = place(c, alloc);
  upload(c, b);
  issue_ok(c, b);
  verify(c, b);
}

}  // namespace collectives_gpu_test
