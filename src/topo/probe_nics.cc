// This host's NICs: InfiniBand/RoCE ports through libibverbs and sysfs, else
// the physical Ethernet netdevs the socket transport would use.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "topo/discover.h"
#include "topo/dynlib.h"
#include "topo/probe.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace tdm::topo::detail {

std::vector<NicProbe> probe_ib() {
  std::vector<NicProbe> out;
  DynLib lib{"libibverbs.so.1", "libibverbs.so"};
  using Dev = struct ibv_device;
  auto get_list = lib.sym<Dev** (*)(int*)>("ibv_get_device_list");
  auto free_list = lib.sym<void (*)(Dev**)>("ibv_free_device_list");
  auto get_name = lib.sym<const char* (*)(Dev*)>("ibv_get_device_name");
  if (!get_list || !free_list || !get_name) {
    TDM_INFO("TOPO", "libibverbs not found: no InfiniBand/RoCE NICs");
    return out;
  }
  int n = 0;
  Dev** list = get_list(&n);
  if (!list) {
    TDM_INFO("TOPO", "ibv_get_device_list failed: no InfiniBand/RoCE NICs");
    return out;
  }
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i)
    if (const char* name = get_name(list[i])) names.emplace_back(name);
  free_list(list);

  for (const std::string& name : names) {
    std::string dir = "/sys/class/infiniband/" + name;
    std::error_code ec;
    std::string busid = detail::last_busid_in_path(fs::canonical(dir + "/device", ec).string());
    std::string guid_text = read_sysfs(dir + "/node_guid").value_or("");
    guid_text.erase(std::remove(guid_text.begin(), guid_text.end(), ':'), guid_text.end());
    std::vector<int> ports;
    for (const auto& e : fs::directory_iterator(dir + "/ports", ec))
      ports.push_back(std::atoi(e.path().filename().c_str()));
    std::sort(ports.begin(), ports.end());
    for (int port : ports) {
      std::string pdir = dir + "/ports/" + std::to_string(port);
      std::string state = read_sysfs(pdir + "/state").value_or("");
      if (state.find("ACTIVE") == std::string::npos) continue;
      NicProbe nic;
      nic.name = name;
      nic.busid = busid;
      nic.port = port;
      nic.rdma = true;
      nic.maxconn = 131072;
      nic.guid = std::strtoull(guid_text.c_str(), nullptr, 16);
      nic.link_layer = read_sysfs(pdir + "/link_layer").value_or("InfiniBand");
      // "400 Gb/sec (4X NDR)"
      nic.speed_mbps =
          std::strtod(read_sysfs(pdir + "/rate").value_or("0").c_str(), nullptr) * 1000;
      auto numa = read_sysfs(dir + "/device/numa_node");
      nic.numa = numa ? std::atoi(numa->c_str()) : -1;
      out.push_back(std::move(nic));
    }
  }
  return out;
}

std::vector<NicProbe> probe_netdevs() {
  // Without RDMA devices the socket transport uses physical netdevs.
  std::vector<NicProbe> out;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator("/sys/class/net", ec))
    names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::string dir = "/sys/class/net/" + name;
    std::error_code lec;
    fs::path dev = fs::canonical(dir + "/device", lec);
    if (lec) continue;  // virtual: lo, bridges, veth
    if (read_sysfs(dir + "/operstate").value_or("") != "up") continue;
    NicProbe nic;
    nic.name = name;
    nic.busid = detail::last_busid_in_path(dev.string());
    nic.port = 0;
    nic.maxconn = 65536;
    nic.link_layer = "Ethernet";
    long speed = std::atol(read_sysfs(dir + "/speed").value_or("-1").c_str());
    nic.speed_mbps = speed > 0 ? static_cast<double>(speed) : 10000;  // virtio reports none
    if (!nic.busid.empty()) nic.numa = sysfs_numa(nic.busid);
    out.push_back(std::move(nic));
  }
  return out;
}

}  // namespace tdm::topo::detail
