#include "bootstrap/launcher_env.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "util/crypto.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::bootstrap {

namespace {

// A rank (in [0, INT_MAX - 1]) or a world size (in [1, INT_MAX]) that must be set.
int required_int(const char* name, int min, int max) {
  if (!env::get(name))
    throw_error(tdmInvalidArgument, name, " must be set to an integer from ", min, " to ", max);
  return static_cast<int>(env::get_int(name, 0, min, max));
}

int required_rank(const char* name) { return required_int(name, 0, INT_MAX - 1); }
int required_world_size(const char* name) { return required_int(name, 1, INT_MAX); }

void check_rank(const World& w, const char* source) {
  if (w.nranks < 1 || w.rank < 0 || w.rank >= w.nranks)
    throw_error(tdmInvalidArgument, source, " gives rank ", w.rank, " of ", w.nranks,
                ", which is out of range");
}

SocketAddress resolve_host(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (int err = getaddrinfo(host.c_str(), nullptr, &hints, &result); err != 0)
    throw_error(tdmInvalidArgument, "cannot resolve MASTER_ADDR='", host, "': ", gai_strerror(err));
  SocketAddress addr;
  std::memcpy(&addr.storage, result->ai_addr, result->ai_addrlen);
  addr.length = result->ai_addrlen;
  freeaddrinfo(result);
  reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// torchrun gives the ranks no channel for a unique id, so every rank derives
// the job from what they share: the rendezvous point names the job, and the
// key comes from TANDEM_JOB_SECRET (tandemrun sets one; torchrun passes the
// environment through). Without a secret the key is computable by anyone who
// can see the rendezvous point: the job runs unauthenticated, and says so.
UniqueIdContents torchrun_job(const std::string& rendezvous) {
  UniqueIdContents contents;
  const auto name = std::as_bytes(std::span(rendezvous));
  crypto::Digest digest = crypto::sha256(name);
  std::memcpy(&contents.nonce, digest.data(), sizeof(contents.nonce));
  if (auto secret = env::get("TANDEM_JOB_SECRET")) {
    if (secret->size() < 32)
      throw_error(tdmInvalidArgument, "TANDEM_JOB_SECRET has ", secret->size(),
                  " characters; it needs at least 32 (128 bits as hex, e.g. from "
                  "`od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'`)");
    crypto::Hmac mac(std::as_bytes(std::span(*secret)));
    mac.update("tandem job key");
    mac.update(name);
    contents.key = mac.finish();
  } else {
    TDM_INFO("BOOT",
             "TANDEM_JOB_SECRET is not set: this job's bootstrap runs unauthenticated "
             "(anyone who can reach ",
             rendezvous, " can join it)");
    crypto::Hmac mac(std::as_bytes(std::span(rendezvous)));
    mac.update("tandem unauthenticated job key");
    contents.key = mac.finish();
  }
  return contents;
}

// The root listens on MASTER_ADDR's interface only; where that address is not
// this host's (MASTER_ADDR names a gateway or a NAT), on every interface.
std::unique_ptr<RootServer> start_root_at(const SocketAddress& root,
                                          const UniqueIdContents& contents) {
  try {
    return RootServer::start(1, &root, &contents);
  } catch (const Error& e) {
    SocketAddress any = root;
    reinterpret_cast<sockaddr_in*>(&any.storage)->sin_addr.s_addr = htonl(INADDR_ANY);
    TDM_WARN("BOOT", "cannot listen on MASTER_ADDR's address ", root.to_string(), " (", e.what(),
             "); the rendezvous root listens on every interface");
    return RootServer::start(1, &any, &contents);
  }
}

World from_torchrun() {
  World w;
  w.launcher = "torchrun";
  w.rank = required_rank("RANK");
  w.nranks = required_world_size("WORLD_SIZE");
  check_rank(w, "RANK/WORLD_SIZE");
  std::string host = env::get("MASTER_ADDR").value_or("127.0.0.1");
  int64_t port = env::get_int("TANDEM_ROOT_PORT", -1, 1, 65535);
  if (port < 0) {
    port = env::get_int("MASTER_PORT", -1, 1, 65535);
    if (port < 0) throw_error(tdmInvalidArgument, "MASTER_PORT must be set with MASTER_ADDR");
    if (env::get("TORCHELASTIC_RUN_ID")) port += 1;  // torchrun's own store holds MASTER_PORT
  }
  if (port <= 0 || port > 65535) throw_error(tdmInvalidArgument, "root port ", port, " is invalid");
  SocketAddress root = resolve_host(host, static_cast<int>(port));
  UniqueIdContents contents = torchrun_job(host + ":" + std::to_string(port) + "/" +
                                           env::get("TORCHELASTIC_RUN_ID").value_or(""));
  contents.root = root;
  if (w.rank == 0) w.server = start_root_at(root, contents);
  w.id = encode(contents);
  return w;
}

// Tandem's MPI plugin (libtandem_mpi.so) wraps the few MPI calls needed, so
// libtandem itself does not depend on MPI.
struct MpiPlugin {
  using WorldFn = int (*)(int*, int*);
  using BcastFn = int (*)(void*, int, int);
  void* handle = nullptr;
  WorldFn world = nullptr;
  BcastFn bcast = nullptr;
};

MpiPlugin load_mpi_plugin() {
  std::vector<std::string> candidates;
  if (auto path = env::get("TANDEM_MPI_PLUGIN")) candidates.push_back(*path);
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&load_mpi_plugin), &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    std::string dir = self.substr(0, self.find_last_of('/') + 1);
    candidates.push_back(dir + "libtandem_mpi.so");
    candidates.push_back(dir + "../lib/libtandem_mpi.so");
  }
  candidates.push_back("libtandem_mpi.so");
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    MpiPlugin plugin;
    plugin.handle = handle;
    plugin.world = reinterpret_cast<MpiPlugin::WorldFn>(dlsym(handle, "tandem_mpi_world"));
    plugin.bcast = reinterpret_cast<MpiPlugin::BcastFn>(dlsym(handle, "tandem_mpi_bcast"));
    if (plugin.world && plugin.bcast) return plugin;
  }
  throw_error(tdmInvalidUsage,
              "launched by mpirun, but Tandem's MPI plugin libtandem_mpi.so was not found "
              "(Tandem built without MPI, or set TANDEM_MPI_PLUGIN to its path); tried:",
              tried);
}

World from_mpi() {
  MpiPlugin plugin = load_mpi_plugin();
  World w;
  w.launcher = "mpirun";
  if (plugin.world(&w.rank, &w.nranks) != 0)
    throw_error(tdmSystemError, "MPI initialization failed in Tandem's MPI plugin");
  check_rank(w, "MPI_COMM_WORLD");
  if (w.rank == 0) {
    w.server = RootServer::start(1);
    w.id = w.server->id();
  }
  if (plugin.bcast(&w.id, sizeof(w.id), 0) != 0)
    throw_error(tdmSystemError, "MPI_Bcast of the unique id failed");
  return w;
}

}  // namespace

World resolve_world() {
  if (auto hex = env::get("TANDEM_UNIQUE_ID")) {
    World w;
    w.launcher = "tandemrun";
    w.id = from_hex(*hex);
    w.rank = required_rank("TANDEM_RANK");
    w.nranks = required_world_size("TANDEM_WORLD_SIZE");
    check_rank(w, "TANDEM_RANK/TANDEM_WORLD_SIZE");
    return w;
  }
  if (env::get("RANK") && env::get("WORLD_SIZE") && env::get("MASTER_ADDR")) return from_torchrun();
  if (env::get("OMPI_COMM_WORLD_SIZE") || env::get("PMI_SIZE") || env::get("PMIX_RANK"))
    return from_mpi();
  World w;
  w.launcher = "none";
  w.server = RootServer::start(1, nullptr);
  w.id = w.server->id();
  return w;
}

}  // namespace tdm::bootstrap
