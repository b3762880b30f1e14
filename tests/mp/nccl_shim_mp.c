/* A program written for NCCL, compiled against the generated nccl.h alone and
 * linked to Tandem's libnccl.so.2 (tools/nccl_shim), one process per rank
 * under tandemrun or mpirun. Host buffers, NULL stream (Tandem's CPU engine).
 *
 * Rank 0 makes two unique ids (a blocking and a non-blocking communicator)
 * and a fresh seed, and hands them to the others through a file named after
 * the job (argv[1] is the folder). Every rank can generate any rank's input
 * from (seed, rank, index), so each checks its outputs against a reference it
 * computes itself; outputs are poisoned before every call.
 *
 * Usage: nccl_shim_mp <folder for the id file> */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nccl.h"

static int g_rank = -1, g_nranks = 0;
static uint64_t g_seed;

#define FAIL(...)                                                               \
  do {                                                                          \
    fprintf(stderr, "[rank %d] FAIL %s:%d: ", g_rank, __FILE__, __LINE__);      \
    fprintf(stderr, __VA_ARGS__);                                               \
    fprintf(stderr, " (seed %" PRIu64 ")\n", g_seed);                           \
    exit(1);                                                                    \
  } while (0)

#define NCCL_OK(call)                                                                      \
  do {                                                                                     \
    ncclResult_t r_ = (call);                                                              \
    if (r_ != ncclSuccess)                                                                 \
      FAIL("%s returned %d (%s): %s", #call, (int)r_, ncclGetErrorString(r_),              \
           ncclGetLastError(NULL));                                                        \
  } while (0)

static int env_int(const char* a, const char* b) {
  const char* v = getenv(a);
  if (!v) v = getenv(b);
  return v ? atoi(v) : -1;
}

/* splitmix64: the input of `rank` at `index`, from the job's seed. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
static uint64_t input(int rank, size_t index, int call) {
  return mix(g_seed ^ mix(((uint64_t)rank << 40) ^ ((uint64_t)call << 56) ^ index));
}
/* Small integers, so float sums are exact whatever the order. */
static int32_t in_i32(int rank, size_t i, int call) { return (int32_t)(input(rank, i, call) % 2001) - 1000; }
static float in_f32(int rank, size_t i, int call) { return (float)((int)(input(rank, i, call) % 513) - 256); }

static void* poisoned(size_t bytes) {
  void* p = malloc(bytes ? bytes : 1);
  if (!p) FAIL("out of memory");
  memset(p, 0xcd, bytes);
  return p;
}

/* ---- the id file: rank 0 writes ids and seed; others wait for it ---- */
struct Handoff {
  ncclUniqueId blocking_id, nonblocking_id;
  uint64_t seed;
};

static void id_path(char* out, size_t size, const char* folder) {
  /* Same on every rank of a job, different between jobs. */
  const char* job = getenv("TANDEM_UNIQUE_ID");
  if (!job) job = getenv("PMIX_NAMESPACE");
  if (!job) job = getenv("OMPI_MCA_ess_base_jobid");
  if (!job) FAIL("no job identity in the environment (run under tandemrun or mpirun)");
  uint64_t h = 1469598103934665603ULL;
  for (const char* c = job; *c; ++c) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  snprintf(out, size, "%s/nccl_shim_mp.%016" PRIx64 ".id", folder, h);
}

static void handoff(struct Handoff* h, const char* path) {
  if (g_rank == 0) {
    NCCL_OK(ncclGetUniqueId(&h->blocking_id));
    NCCL_OK(ncclGetUniqueId(&h->nonblocking_id));
    h->seed = mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock());
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE* f = fopen(tmp, "wb");
    if (!f || fwrite(h, sizeof *h, 1, f) != 1 || fclose(f) != 0) FAIL("cannot write %s", tmp);
    if (rename(tmp, path) != 0) FAIL("rename to %s: %s", path, strerror(errno));
    return;
  }
  for (int tries = 0; tries < 60000; ++tries) {
    FILE* f = fopen(path, "rb");
    if (f) {
      size_t got = fread(h, sizeof *h, 1, f);
      fclose(f);
      if (got == 1) return;
    }
    usleep(1000);
  }
  FAIL("no id file %s after 60 s", path);
}

/* ---- the collectives ---- */

static void test_allreduce(ncclComm_t comm, int call, size_t n) {
  int32_t* send = poisoned(n * 4);
  int32_t* recv = poisoned(n * 4);
  float* fsend = poisoned(n * 4);
  float* frecv = poisoned(n * 4);
  for (size_t i = 0; i < n; ++i) {
    send[i] = in_i32(g_rank, i, call);
    fsend[i] = in_f32(g_rank, i, call + 1);
  }
  NCCL_OK(ncclAllReduce(send, recv, n, ncclInt32, ncclSum, comm, NULL));
  NCCL_OK(ncclAllReduce(fsend, frecv, n, ncclFloat32, ncclMax, comm, NULL));
  for (size_t i = 0; i < n; ++i) {
    int64_t sum = 0;
    double max = -1e30;
    for (int r = 0; r < g_nranks; ++r) {
      sum += in_i32(r, i, call);
      if (in_f32(r, i, call + 1) > max) max = in_f32(r, i, call + 1);
    }
    if (recv[i] != sum) FAIL("allreduce sum n=%zu [%zu] = %d, expected %" PRId64, n, i, recv[i], sum);
    if (frecv[i] != (float)max) FAIL("allreduce max n=%zu [%zu] = %g, expected %g", n, i, frecv[i], max);
  }
  free(send), free(recv), free(fsend), free(frecv);
}

static void test_allgather(ncclComm_t comm, int call, size_t n) {
  double* send = poisoned(n * 8);
  double* recv = poisoned(n * 8 * g_nranks);
  for (size_t i = 0; i < n; ++i) send[i] = (double)input(g_rank, i, call) / 3.0;
  NCCL_OK(ncclAllGather(send, recv, n, ncclFloat64, comm, NULL));
  for (int r = 0; r < g_nranks; ++r)
    for (size_t i = 0; i < n; ++i)
      if (recv[r * n + i] != (double)input(r, i, call) / 3.0)
        FAIL("allgather n=%zu block %d [%zu] differs", n, r, i);
  free(send), free(recv);
}

static void test_reduce_scatter(ncclComm_t comm, int call, size_t n) {
  int32_t* send = poisoned(n * 4 * g_nranks);
  int32_t* recv = poisoned(n * 4);
  for (size_t i = 0; i < n * g_nranks; ++i) send[i] = in_i32(g_rank, i, call);
  NCCL_OK(ncclReduceScatter(send, recv, n, ncclInt32, ncclSum, comm, NULL));
  for (size_t i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int r = 0; r < g_nranks; ++r) sum += in_i32(r, g_rank * n + i, call);
    if (recv[i] != sum) FAIL("reducescatter n=%zu [%zu] = %d, expected %" PRId64, n, i, recv[i], sum);
  }
  free(send), free(recv);
}

static void test_bcast(ncclComm_t comm, int call, size_t n) {
  const int root = g_nranks - 1;
  uint8_t* buf = poisoned(n);
  if (g_rank == root)
    for (size_t i = 0; i < n; ++i) buf[i] = (uint8_t)input(root, i, call);
  NCCL_OK(ncclBcast(buf, n, ncclUint8, root, comm, NULL));
  for (size_t i = 0; i < n; ++i)
    if (buf[i] != (uint8_t)input(root, i, call)) FAIL("bcast n=%zu [%zu] differs", n, i);
  free(buf);
}

static void test_alltoall(ncclComm_t comm, int call, size_t n) {
  int64_t* send = poisoned(n * 8 * g_nranks);
  int64_t* recv = poisoned(n * 8 * g_nranks);
  for (size_t i = 0; i < n * g_nranks; ++i) send[i] = (int64_t)input(g_rank, i, call);
  NCCL_OK(ncclAlltoAll(send, recv, n, ncclInt64, comm, NULL));
  /* Block r of my output is block g_rank of rank r's input. */
  for (int r = 0; r < g_nranks; ++r)
    for (size_t i = 0; i < n; ++i)
      if (recv[r * n + i] != (int64_t)input(r, g_rank * n + i, call))
        FAIL("alltoall n=%zu from %d [%zu] differs", n, r, i);
  free(send), free(recv);
}

/* Both ring directions in one group: every rank sends before it receives. */
static void test_sendrecv(ncclComm_t comm, int call, size_t n) {
  const int next = (g_rank + 1) % g_nranks, prev = (g_rank + g_nranks - 1) % g_nranks;
  float* to_next = poisoned(n * 4);
  float* to_prev = poisoned(n * 4);
  float* from_prev = poisoned(n * 4);
  float* from_next = poisoned(n * 4);
  for (size_t i = 0; i < n; ++i) {
    to_next[i] = in_f32(g_rank, i, call);
    to_prev[i] = in_f32(g_rank, i, call + 1);
  }
  NCCL_OK(ncclGroupStart());
  NCCL_OK(ncclSend(to_next, n, ncclFloat32, next, comm, NULL));
  NCCL_OK(ncclSend(to_prev, n, ncclFloat32, prev, comm, NULL));
  NCCL_OK(ncclRecv(from_prev, n, ncclFloat32, prev, comm, NULL));
  NCCL_OK(ncclRecv(from_next, n, ncclFloat32, next, comm, NULL));
  NCCL_OK(ncclGroupEnd());
  for (size_t i = 0; i < n; ++i) {
    if (from_prev[i] != in_f32(prev, i, call)) FAIL("recv from prev n=%zu [%zu] differs", n, i);
    if (from_next[i] != in_f32(next, i, call + 1)) FAIL("recv from next n=%zu [%zu] differs", n, i);
  }
  free(to_next), free(to_prev), free(from_prev), free(from_next);
}

/* Colors by parity, keys reversing the order: an allreduce over the members. */
static void test_split(ncclComm_t comm, int call) {
  ncclComm_t sub = NULL;
  const int color = g_rank % 2;
  NCCL_OK(ncclCommSplit(comm, color, -g_rank, &sub, NULL));
  int members[64], nmembers = 0;
  for (int r = g_nranks - 1; r >= 0; --r)
    if (r % 2 == color) members[nmembers++] = r;
  int rank = -1, count = -1;
  NCCL_OK(ncclCommUserRank(sub, &rank));
  NCCL_OK(ncclCommCount(sub, &count));
  if (count != nmembers) FAIL("split: count %d, expected %d", count, nmembers);
  if (members[rank] != g_rank) FAIL("split: rank %d is parent rank %d, not %d", rank, members[rank], g_rank);
  const size_t n = 777;
  int32_t* send = poisoned(n * 4);
  int32_t* recv = poisoned(n * 4);
  for (size_t i = 0; i < n; ++i) send[i] = in_i32(g_rank, i, call);
  NCCL_OK(ncclAllReduce(send, recv, n, ncclInt32, ncclSum, sub, NULL));
  for (size_t i = 0; i < n; ++i) {
    int64_t sum = 0;
    for (int m = 0; m < nmembers; ++m) sum += in_i32(members[m], i, call);
    if (recv[i] != sum) FAIL("split allreduce [%zu] = %d, expected %" PRId64, i, recv[i], sum);
  }
  NCCL_OK(ncclCommDestroy(sub));
  free(send), free(recv);
}

static void run_all(ncclComm_t comm, int first_call) {
  static const size_t counts[] = {1, 1000, 70001};
  int call = first_call;
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; ++k) {
    const size_t n = counts[k];
    test_allreduce(comm, call += 2, n);
    test_allgather(comm, ++call, n);
    test_reduce_scatter(comm, ++call, n);
    test_bcast(comm, ++call, n);
    test_alltoall(comm, ++call, n);
    test_sendrecv(comm, call += 2, n);
  }
}

int main(int argc, char** argv) {
  if (argc != 2) FAIL("usage: %s <folder for the id file>", argv[0]);
  g_rank = env_int("TANDEM_RANK", "OMPI_COMM_WORLD_RANK");
  g_nranks = env_int("TANDEM_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE");
  if (g_rank < 0 || g_nranks < 1 || g_nranks > 64) FAIL("run under tandemrun or mpirun (1-64 ranks)");
  int version = 0;
  NCCL_OK(ncclGetVersion(&version));
  if (version != NCCL_VERSION_CODE) FAIL("ncclGetVersion %d, header %d", version, NCCL_VERSION_CODE);

  char path[4096];
  id_path(path, sizeof path, argv[1]);
  struct Handoff h;
  handoff(&h, path);
  g_seed = h.seed;

  ncclComm_t comm = NULL;
  NCCL_OK(ncclCommInitRank(&comm, g_nranks, h.blocking_id, g_rank));
  run_all(comm, 0);
  test_split(comm, 1000);

  /* Non-blocking: init may return ncclInProgress; poll until it is done. */
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t nb = NULL;
  ncclResult_t r = ncclCommInitRankConfig(&nb, g_nranks, h.nonblocking_id, g_rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) FAIL("non-blocking init: %s", ncclGetLastError(NULL));
  ncclResult_t state = ncclInProgress;
  for (int tries = 0; state == ncclInProgress && tries < 600000; ++tries) {
    NCCL_OK(ncclCommGetAsyncError(nb, &state));
    if (state == ncclInProgress) usleep(100);
  }
  if (state != ncclSuccess) FAIL("non-blocking init ended with %d: %s", (int)state, ncclGetLastError(NULL));
  run_all(nb, 2000);
  NCCL_OK(ncclCommGetAsyncError(nb, &state));
  if (state != ncclSuccess) FAIL("non-blocking communicator's async error %d", (int)state);
  NCCL_OK(ncclCommFinalize(nb));
  NCCL_OK(ncclCommDestroy(nb));

  /* Everyone has read the file once this allreduce completes. */
  int one = 1, ranks = 0;
  NCCL_OK(ncclAllReduce(&one, &ranks, 1, ncclInt32, ncclSum, comm, NULL));
  if (ranks != g_nranks) FAIL("final allreduce %d, expected %d", ranks, g_nranks);
  if (g_rank == 0) unlink(path);
  NCCL_OK(ncclCommFinalize(comm));
  NCCL_OK(ncclCommDestroy(comm));
  printf("[rank %d] nccl_shim_mp: all collectives correct on %d ranks (seed %" PRIu64 ")\n", g_rank,
         g_nranks, g_seed);
  return 0;
}
