// libnccl.so.2 (tools/nccl_shim) as NCCL's users see it: compiled against the
// generated nccl.h alone (no Tandem header), linked to the shim. Checks what
// the dynamic linker finds (every NCCL 2.28 name and its pnccl alias, the
// SONAME), the version, the config read by its size, the refused device
// communicator and the error strings.
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "nccl.h"

namespace {

// NCCL 2.28's host API (NCCL's documentation, "NCCL API"), every function
// PyTorch 2.11 references among them, and the two Tandem extensions the
// generated header declares.
const char* const kExported[] = {"ncclGetLastError",
                                 "ncclGetErrorString",
                                 "ncclGetVersion",
                                 "ncclGetUniqueId",
                                 "ncclCommInitRank",
                                 "ncclCommInitAll",
                                 "ncclCommInitRankConfig",
                                 "ncclCommInitRankScalable",
                                 "ncclCommSplit",
                                 "ncclCommShrink",
                                 "ncclCommFinalize",
                                 "ncclCommDestroy",
                                 "ncclCommAbort",
                                 "ncclCommGetAsyncError",
                                 "ncclCommCount",
                                 "ncclCommCuDevice",
                                 "ncclCommUserRank",
                                 "ncclCommRegister",
                                 "ncclCommDeregister",
                                 "ncclCommWindowRegister",
                                 "ncclCommWindowDeregister",
                                 "ncclMemAlloc",
                                 "ncclMemFree",
                                 "ncclAllReduce",
                                 "ncclBroadcast",
                                 "ncclBcast",
                                 "ncclReduce",
                                 "ncclAllGather",
                                 "ncclReduceScatter",
                                 "ncclAlltoAll",
                                 "ncclGather",
                                 "ncclScatter",
                                 "ncclGroupStart",
                                 "ncclGroupEnd",
                                 "ncclGroupSimulateEnd",
                                 "ncclSend",
                                 "ncclRecv",
                                 "ncclRedOpCreatePreMulSum",
                                 "ncclRedOpDestroy",
                                 "ncclDevCommCreate",
                                 "ncclDevCommDestroy",
                                 "ncclCommInitWorld",
                                 "ncclWindowPeerPointer"};

struct Library {
  void* handle = dlopen(TANDEM_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ~Library() {
    if (handle) dlclose(handle);
  }
};

TEST(NcclShim, ExportsEveryNameAndItsProfilingAlias) {
  Library lib;
  ASSERT_NE(lib.handle, nullptr) << dlerror();
  for (const char* name : kExported) {
    SCOPED_TRACE(name);
    void* function = dlsym(lib.handle, name);
    void* alias = dlsym(lib.handle, (std::string("p") + name).c_str());
    ASSERT_NE(function, nullptr) << dlerror();
    ASSERT_NE(alias, nullptr) << dlerror();
    EXPECT_EQ(function, alias);  // the same code, as NCCL's profiling interface
    Dl_info info{};
    ASSERT_NE(dladdr(function, &info), 0);
    EXPECT_NE(std::string(info.dli_fname).find("libnccl.so"), std::string::npos)
        << "found in " << info.dli_fname;
  }
  // What this test called through the header is the library's code.
  EXPECT_EQ(dlsym(lib.handle, "ncclGetVersion"), reinterpret_cast<void*>(&ncclGetVersion));
}

TEST(NcclShim, SonameIsLibnccl2) {
  Library lib;
  ASSERT_NE(lib.handle, nullptr) << dlerror();
  link_map* map = nullptr;
  ASSERT_EQ(dlinfo(lib.handle, RTLD_DI_LINKMAP, &map), 0) << dlerror();
  const char* strtab = nullptr;
  long soname = -1;
  for (const ElfW(Dyn)* d = map->l_ld; d->d_tag != DT_NULL; ++d) {
    if (d->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(d->d_un.d_ptr);
    if (d->d_tag == DT_SONAME) soname = static_cast<long>(d->d_un.d_val);
  }
  ASSERT_NE(strtab, nullptr);
  ASSERT_GE(soname, 0) << "no DT_SONAME";
  EXPECT_STREQ(strtab + soname, "libnccl.so.2");
}

TEST(NcclShim, VersionIsTheNcclApiLevel) {
  static_assert(NCCL_MAJOR == 2 && NCCL_MINOR == 28 && NCCL_PATCH == 9);
  static_assert(NCCL_VERSION_CODE == 22809 && NCCL_VERSION(2, 28, 9) == 22809);
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_EQ(version, 22809);
  EXPECT_EQ(ncclGetVersion(nullptr), ncclInvalidArgument);
  EXPECT_NE(std::string(ncclGetLastError(nullptr)).find("version"), std::string::npos);
}

// A config as a caller built against another NCCL header passes it: `size`
// bytes of the fields it knows, then whatever its newer fields hold.
struct CallersConfig {
  alignas(ncclConfig_t) unsigned char bytes[128];
  CallersConfig(size_t size, int blocking) {
    std::memset(bytes, 0xa5, sizeof bytes);  // neither 0, 1 nor NCCL_CONFIG_UNDEF_INT
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.size = size;
    config.blocking = blocking;
    std::memcpy(bytes, &config, size < sizeof config ? size : sizeof config);
  }
  ncclConfig_t* get() { return reinterpret_cast<ncclConfig_t*>(bytes); }
};

ncclResult_t init_one(ncclConfig_t* config, ncclComm_t* comm) {
  ncclUniqueId id;
  if (ncclGetUniqueId(&id) != ncclSuccess) return ncclInternalError;
  return ncclCommInitRankConfig(comm, 1, id, 0, config);
}

ncclResult_t wait_init(ncclComm_t comm) {
  ncclResult_t state = ncclInProgress;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (state == ncclInProgress && std::chrono::steady_clock::now() < give_up) {
    if (ncclCommGetAsyncError(comm, &state) != ncclSuccess) return ncclInternalError;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return state;
}

TEST(NcclShim, ConfigIsReadByItsSize) {
  // NCCL 2.27's config is 72 bytes, this header's (2.28) 80, 2.29/2.30's up to 96.
  ASSERT_EQ(sizeof(ncclConfig_t), 80u);
  ncclComm_t comm = nullptr;
  // 72 bytes: blocking (inside) is read, the two 2.28 fields (outside) are not.
  CallersConfig v227(72, 0);
  ASSERT_EQ(init_one(v227.get(), &comm), ncclInProgress) << ncclGetLastError(nullptr);
  ASSERT_EQ(wait_init(comm), ncclSuccess) << ncclGetLastError(nullptr);
  int count = 0;
  EXPECT_EQ(ncclCommCount(comm, &count), ncclSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
  // 96 bytes: the 80 this header knows are read, the rest ignored.
  CallersConfig v230(96, 1);
  std::memset(v230.bytes + offsetof(ncclConfig_t, nChannelsPerNetPeer), 0, 8);
  ASSERT_EQ(init_one(v230.get(), &comm), ncclSuccess) << ncclGetLastError(nullptr);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
  // The bytes a 72-byte caller left alone, inside an 80-byte config: read and refused.
  CallersConfig v228(80, 1);
  std::memset(v228.bytes + offsetof(ncclConfig_t, nvlinkCentricSched), 0xa5, sizeof(int));
  EXPECT_EQ(init_one(v228.get(), &comm), ncclInvalidArgument);
  EXPECT_NE(std::string(ncclGetLastError(nullptr)).find("nvlinkCentricSched"), std::string::npos)
      << ncclGetLastError(nullptr);
}

TEST(NcclShim, DeviceCommunicatorIsRefusedWithASentence) {
  ncclComm_t comm = nullptr;
  ASSERT_EQ(init_one(nullptr, &comm), ncclSuccess) << ncclGetLastError(nullptr);
  ncclDevCommRequirements reqs;
  std::memset(&reqs, 0, sizeof reqs);
  reqs.lsaBarrierCount = 4;
  ncclDevComm dev;
  std::memset(&dev, 0x11, sizeof dev);
  EXPECT_EQ(ncclDevCommCreate(comm, &reqs, &dev), ncclInvalidUsage);
  const std::string sentence = ncclGetLastError(comm);
  EXPECT_NE(sentence.find("ncclDevCommCreate"), std::string::npos) << sentence;
  EXPECT_NE(sentence.find("device API"), std::string::npos) << sentence;
  EXPECT_EQ(dev.rank, 0x11111111);  // untouched
  EXPECT_EQ(ncclDevCommDestroy(comm, &dev), ncclInvalidUsage);
  // A later failure in Tandem replaces the shim's sentence.
  EXPECT_EQ(ncclAllReduce(nullptr, nullptr, 1, ncclFloat32, ncclSum, comm, nullptr),
            ncclInvalidArgument);
  EXPECT_EQ(std::string(ncclGetLastError(comm)).find("ncclDevComm"), std::string::npos)
      << ncclGetLastError(comm);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

TEST(NcclShim, ErrorStrings) {
  std::set<std::string> seen;
  for (int r = ncclSuccess; r < ncclNumResults; ++r) {
    const char* text = ncclGetErrorString(static_cast<ncclResult_t>(r));
    ASSERT_NE(text, nullptr);
    EXPECT_GT(std::strlen(text), 5u);
    seen.insert(text);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(ncclNumResults));  // one per code
  EXPECT_NE(std::string(ncclGetErrorString(ncclInvalidUsage)).find("invalid usage"),
            std::string::npos);
  EXPECT_NE(std::string(ncclGetErrorString(ncclInProgress)).find("in progress"), std::string::npos);
  EXPECT_NE(std::string(ncclGetErrorString(static_cast<ncclResult_t>(99))).find("unknown"),
            std::string::npos);
}

TEST(NcclShim, GroupSimulateEndRunsNothing) {
  ncclComm_t comm = nullptr;
  ASSERT_EQ(init_one(nullptr, &comm), ncclSuccess);
  std::vector<double> send(16, 2.0), recv(16, -1.0);
  ncclSimInfo_t info = NCCL_SIM_INFO_INITIALIZER;
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  ASSERT_EQ(ncclAllReduce(send.data(), recv.data(), 16, ncclFloat64, ncclSum, comm, nullptr),
            ncclSuccess);
  ASSERT_EQ(ncclGroupSimulateEnd(&info), ncclSuccess) << ncclGetLastError(nullptr);
  EXPECT_EQ(info.estimatedTime, NCCL_UNDEF_FLOAT);
  for (double v : recv) EXPECT_EQ(v, -1.0);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
}

}  // namespace
