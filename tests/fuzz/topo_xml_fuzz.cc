// libFuzzer target: the input is a topology XML document, loaded as
// TANDEM_TOPO_FILE is (topo::from_xml_string, the in-memory form of
// load_xml). No input may crash or reach undefined behaviour: it is rejected
// with tdmInvalidArgument, or it loads, survives the round trip peers make
// (serialize, deserialize) unchanged, and every path between its devices
// can be computed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "topo/topology.h"
#include "util/error.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "topo_xml_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tdm::topo;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  HostTopology host;
  try {
    host = from_xml_string(text, "fuzz.xml");
  } catch (const tdm::Error& e) {
    if (e.code() != tdmInvalidArgument) fail("error other than tdmInvalidArgument");
    return 0;
  }
  // What one rank sends, every peer must accept and read the same.
  const std::string wire = serialize(host);
  HostTopology back;
  try {
    back = deserialize(wire);
  } catch (const tdm::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    fail("a loaded topology does not survive serialize/deserialize");
  }
  if (serialize(back) != wire) fail("serialize/deserialize changed the topology");
  // Paths between the first few of each kind (bounded: the fuzzer's time).
  using K = Endpoint::Kind;
  const int gpus = std::min<int>(static_cast<int>(host.gpus.size()), 8);
  const int nics = std::min<int>(static_cast<int>(host.nics.size()), 4);
  const int cpus = std::min<int>(static_cast<int>(host.cpus.size()), 4);
  for (int a = 0; a < gpus; ++a) {
    for (int b = 0; b < gpus; ++b) {
      PathInfo p = host_path(host, {K::kGpu, a}, {K::kGpu, b});
      if (p.nvlinks < 0 || !(p.bw_GBps >= 0)) fail("negative links or bandwidth");
    }
    for (int n = 0; n < nics; ++n) host_path(host, {K::kGpu, a}, {K::kNic, n});
    for (int c = 0; c < cpus; ++c) host_path(host, {K::kGpu, a}, {K::kCpu, c});
  }
  for (int c = 0; c < cpus; ++c)
    for (int d = 0; d < cpus; ++d) host_path(host, {K::kCpu, c}, {K::kCpu, d});
  return 0;
}
