// tandem-topo's outputs: tree, matrix, JSON (checked against the documented
// schema with a small JSON reader) and DOT.
#include "topo/render.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>

#include "topo/topology.h"

namespace tdm::topo {
namespace {

std::string fixture(const char* name) {
  return (std::filesystem::path(TANDEM_TOPO_FIXTURES) / name).string();
}

JobTopology one_host(const char* file) { return build({load_xml(fixture(file))}, {}); }

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// ---- a minimal JSON reader, enough to check the schema ----
struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> items;
  // An object's members in order, as two lists: std::pair<std::string, Json>
  // needs Json complete here (clang, so clang-tidy, rejects it).
  std::vector<std::string> keys;
  std::vector<Json> values;

  const Json& operator[](const std::string& key) const {
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return values[i];
    throw std::runtime_error("no key " + key);
  }
  bool has(const std::string& key) const {
    for (const auto& k : keys)
      if (k == key) return true;
    return false;
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& s) : s_(s) {}
  Json document() {
    Json v = value();
    ws();
    if (i_ != s_.size()) fail("trailing data");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string string() {
    if (!eat('"')) fail("expected string");
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c == '\\') {
        if (i_ >= s_.size()) fail("bad escape");
        char e = s_[i_++];
        if (e == 'u') {
          if (i_ + 4 > s_.size()) fail("bad \\u");
          out += static_cast<char>(std::stoi(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
        } else if (e == 'n')
          out += '\n';
        else if (e == 't')
          out += '\t';
        else if (e == '"' || e == '\\' || e == '/')
          out += e;
        else
          fail("bad escape");
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  Json value() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::kObject;
      if (eat('}')) return v;
      do {
        std::string k = string();
        if (!eat(':')) fail("expected ':'");
        v.keys.push_back(k);
        v.values.push_back(value());
      } while (eat(','));
      if (!eat('}')) fail("expected '}'");
    } else if (c == '[') {
      ++i_;
      v.type = Json::kArray;
      if (eat(']')) return v;
      do v.items.push_back(value());
      while (eat(','));
      if (!eat(']')) fail("expected ']'");
    } else if (c == '"') {
      v.type = Json::kString;
      v.str = string();
    } else if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 5, "false") == 0) {
      v.type = Json::kBool;
      v.b = s_[i_] == 't';
      i_ += v.b ? 4 : 5;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      size_t used = 0;
      v.type = Json::kNumber;
      v.num = std::stod(s_.substr(i_), &used);
      if (used == 0) fail("bad number");
      i_ += used;
    }
    return v;
  }
  const std::string& s_;
  size_t i_ = 0;
};

TEST(TopoRender, TreeShowsTheHierarchy) {
  std::string t = render_tree(one_host("dgx_h100.xml"));
  EXPECT_TRUE(t.starts_with("Host 0: 2 NUMA node(s), 8 GPU(s), 8 NIC(s)\n")) << t;
  EXPECT_TRUE(contains(
      t, "  CPU 0: NUMA 0, GenuineIntel family 6 model 143 (x86_64), CPUs 0-55,112-167\n"));
  EXPECT_TRUE(contains(
      t,
      "    PCIe switch 0000:15:00.0 [1000:c030] class 0x060400, 32.0 GT/s PCIe x16 (50.4 GB/s)\n"));
  EXPECT_TRUE(contains(t,
                       "      GPU 0 0000:1b:00.0 [10de:2330] sm 90, CUDA dev 0, GPUDirect RDMA, "
                       "32.0 GT/s PCIe x16"));
  EXPECT_TRUE(contains(t, "          NVLink x18 -> NVSwitch (450.0 GB/s)\n"));
  EXPECT_TRUE(contains(
      t, "      NIC 0 mlx5_0 port 1 0000:18:00.0, 400 Gb/s, GPUDirect RDMA [15b3:1021]\n"));
  EXPECT_TRUE(contains(t, "      NVSwitch 0000:05:00.0 [10de:22a3] class 0x068000"));
  EXPECT_TRUE(contains(t, "  NVSwitch fabric: GPUs 0,1,2,3,4,5,6,7\n"));
  EXPECT_TRUE(contains(t, "  CPU 0 <-> CPU 1: SYS 16.0 GB/s\n"));
  EXPECT_FALSE(contains(t, "Ring order"));  // no ranks

  std::string pair = render_tree(one_host("h200_nv18_pair.xml"));
  EXPECT_TRUE(contains(pair, "NVLink x18 -> GPU 1 (450.0 GB/s)"));
}

TEST(TopoRender, TreeShowsRanksOfAJob) {
  HostTopology box = load_xml(fixture("pcie_2socket_4gpu.xml"));
  box.hostname = "box";
  HostTopology cpu = load_xml(fixture("cpu_only.xml"));
  cpu.hostname = "cpu";
  JobTopology job = build({box, cpu}, {{0, 1, -1}, {0, 0, -1}, {1, -1, 1}, {1, -1, -1}});
  std::string t = render_tree(job);
  EXPECT_TRUE(contains(t, "Host 0 box: 2 NUMA node(s), 4 GPU(s), 2 NIC(s), ranks 0,1\n"));
  EXPECT_TRUE(
      contains(t, "sm 89, CUDA dev 1, GPUDirect RDMA, 16.0 GT/s PCIe x16 (25.2 GB/s), rank 0\n"));
  EXPECT_TRUE(contains(t, "Host 1 cpu:"));
  EXPECT_TRUE(contains(t, "    ranks without GPU: 2\n"));
  EXPECT_TRUE(contains(t, "  ranks without GPU, NUMA node unknown: 3\n"));
  EXPECT_TRUE(contains(t, "\nRing order: "));
}

// Cells of the row that starts with `label`.
std::vector<std::string> matrix_row(const std::string& text, const std::string& label) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(label + " ")) continue;
    std::istringstream cells(line);
    std::vector<std::string> out;
    for (std::string c; cells >> c;) out.push_back(c);
    return out;
  }
  return {};
}

TEST(TopoRender, MatrixLikeNvidiaSmi) {
  std::string m = render_matrix(one_host("pcie_2socket_4gpu.xml"));
  EXPECT_EQ(matrix_row(m, "GPU0"), (std::vector<std::string>{"GPU0", "X", "PIX", "SYS", "SYS",
                                                             "PIX", "SYS", "0-31,64-95", "0"}));
  EXPECT_EQ(matrix_row(m, "GPU2"), (std::vector<std::string>{"GPU2", "SYS", "SYS", "X", "PXB",
                                                             "SYS", "PHB", "32-63,96-127", "1"}));
  EXPECT_EQ(matrix_row(m, "NIC1"), (std::vector<std::string>{"NIC1", "SYS", "SYS", "PHB", "PHB",
                                                             "SYS", "X", "32-63,96-127", "1"}));
  EXPECT_TRUE(contains(m, "  NIC0: mlx5_0:1\n"));
  EXPECT_TRUE(contains(m, "Legend:"));

  std::string dgx = render_matrix(one_host("dgx_h100.xml"));
  std::vector<std::string> row = matrix_row(dgx, "GPU3");
  ASSERT_EQ(row.size(), 19u);
  EXPECT_EQ(row[1], "NV18");
  EXPECT_EQ(row[4], "X");
  EXPECT_EQ(row[12], "PIX");  // NIC3
  EXPECT_EQ(row[13], "SYS");  // NIC4

  std::string dgx1 = render_matrix(one_host("dgx1_v100.xml"));
  EXPECT_EQ(matrix_row(dgx1, "GPU0")[4], "NV2");
  EXPECT_EQ(matrix_row(dgx1, "GPU0")[6], "NVB");

  std::string none = render_matrix(build({from_xml_string("<system version=\"1\"/>")}, {}));
  EXPECT_TRUE(contains(none, "(no GPU or NIC)"));
}

TEST(TopoRender, MatrixOfAJobListsRanks) {
  JobTopology job =
      build({load_xml(fixture("pcie_2socket_4gpu.xml")), load_xml(fixture("cpu_only.xml"))},
            {{0, 0, -1}, {0, 2, -1}, {1, -1, 0}});
  std::string m = render_matrix(job);
  EXPECT_EQ(matrix_row(m, "r0"),
            (std::vector<std::string>{"r0", "X", "SYS", "NET", "0", "0", "mlx5_0"}));
  EXPECT_EQ(matrix_row(m, "r2"),
            (std::vector<std::string>{"r2", "NET", "NET", "X", "1", "-", "mlx5_0"}));
}

TEST(TopoRender, JsonFollowsTheSchema) {
  JobTopology job = one_host("dgx_h100.xml");
  Json doc = JsonReader(render_json(job)).document();
  EXPECT_EQ(doc["schema"].str, "tandem-topo/1");
  ASSERT_EQ(doc["hosts"].items.size(), 1u);
  EXPECT_EQ(doc["hosts"].items[0]["gpus"].num, 8);

  std::map<std::string, const Json*> devices;
  std::map<std::string, int> types;
  for (const Json& d : doc["devices"].items) {
    devices[d["id"].str] = &d;
    ++types[d["type"].str];
  }
  EXPECT_EQ(types["gpu"], 8);
  EXPECT_EQ(types["nic"], 8);
  EXPECT_EQ(types["cpu"], 2);
  EXPECT_EQ(types["nvswitch"], 1);
  EXPECT_EQ(types["pci_switch"], 9);
  EXPECT_EQ(types["pci"], 4);  // the NVSwitches' PCIe functions
  const Json& g0 = *devices.at("h0/gpu0");
  EXPECT_EQ(g0["busid"].str, "0000:1b:00.0");
  EXPECT_EQ(g0["sm"].num, 90);
  EXPECT_EQ(g0["numa"].num, 0);
  EXPECT_EQ(g0["nearest_nic"].str, "h0/nic0");
  EXPECT_TRUE(g0["gdr"].b);
  const Json& n4 = *devices.at("h0/nic4");
  EXPECT_EQ(n4["name"].str, "mlx5_4");
  EXPECT_EQ(n4["speed_Gbps"].num, 400);
  EXPECT_EQ(n4["numa"].num, 1);

  // Every link joins known devices.
  int nvlinks = 0;
  for (const Json& l : doc["links"].items) {
    EXPECT_TRUE(devices.count(l["a"].str)) << l["a"].str;
    EXPECT_TRUE(devices.count(l["b"].str)) << l["b"].str;
    if (l["type"].str == "nvlink") {
      ++nvlinks;
      EXPECT_EQ(l["b"].str, "h0/nvswitch");
      EXPECT_EQ(l["count"].num, 18);
      EXPECT_EQ(l["bw_GBps"].num, 450);
    }
  }
  EXPECT_EQ(nvlinks, 8);

  // Every GPU pair and every GPU-NIC pair.
  const auto& paths = doc["paths"].items;
  EXPECT_EQ(paths.size(), 28u + 64u);
  for (const Json& p : paths) {
    EXPECT_TRUE(devices.count(p["a"].str));
    EXPECT_TRUE(devices.count(p["b"].str));
    EXPECT_GT(p["bw_GBps"].num, 0);
    EXPECT_GT(p["latency_us"].num, 0);
    if (p["a"].str == "h0/gpu0" && p["b"].str == "h0/gpu5") {
      EXPECT_EQ(p["class"].str, "NVL");
      EXPECT_EQ(p["nvlinks"].num, 18);
    }
    if (p["a"].str == "h0/gpu0" && p["b"].str == "h0/nic0") {
      EXPECT_EQ(p["class"].str, "PIX");
    }
    if (p["a"].str == "h0/gpu0" && p["b"].str == "h0/nic7") {
      EXPECT_EQ(p["class"].str, "SYS");
    }
  }
  EXPECT_TRUE(doc["cross_host_paths"].b);
  EXPECT_TRUE(doc["ranks"].items.empty());
  EXPECT_TRUE(doc["ring"].items.empty());
}

TEST(TopoRender, JsonOfTwoHostJob) {
  HostTopology a = load_xml(fixture("h200_nv18_pair.xml"));
  a.hostname = "a\"quoted\"";
  JobTopology job =
      build({a, load_xml(fixture("h200_nv18_pair.xml"))}, {{0, 0, -1}, {1, 1, -1}, {0, 1, -1}});
  Json doc = JsonReader(render_json(job)).document();
  EXPECT_EQ(doc["hosts"].items[0]["hostname"].str, "a\"quoted\"");
  EXPECT_EQ(doc["hosts"].items[0]["ranks"].items.size(), 2u);
  // Within each host: 1 GPU pair + 2 GPU-NIC pairs; across: 2x2 GPU pairs.
  EXPECT_EQ(doc["paths"].items.size(), 2u * 3u + 4u);
  int net = 0;
  for (const Json& p : doc["paths"].items)
    if (p["class"].str == "NET") ++net;
  EXPECT_EQ(net, 4);
  ASSERT_EQ(doc["ranks"].items.size(), 3u);
  EXPECT_EQ(doc["ranks"].items[1]["gpu"].str, "h1/gpu1");
  EXPECT_EQ(doc["ranks"].items[1]["nic"].str, "h1/nic0");
  ASSERT_EQ(doc["ring"].items.size(), 3u);
  EXPECT_EQ(doc["ring"].items[0].num, 0);
  EXPECT_EQ(doc["ring"].items[1].num, 2);
  EXPECT_EQ(doc["ring"].items[2].num, 1);
  bool network = false;
  for (const Json& d : doc["devices"].items) network = network || d["id"].str == "network";
  EXPECT_TRUE(network);
}

TEST(TopoRender, DotIsAGraph) {
  std::string d = render_dot(one_host("dgx_h100.xml"));
  EXPECT_TRUE(d.starts_with("graph tandem_topology {\n"));
  EXPECT_TRUE(d.ends_with("}\n"));
  EXPECT_TRUE(contains(d, "subgraph cluster_h0 {"));
  EXPECT_TRUE(contains(d, "\"h0/gpu0\" -- \"h0/nvswitch\" [label=\"NV18 450 GB/s\""));
  EXPECT_TRUE(contains(d, "\"h0/cpu0\" -- \"h0/cpu1\" [label=\"SYS 16 GB/s\""));
  EXPECT_TRUE(contains(d, "\"h0/pci/0000:15:00.0\" -- \"h0/nic0\""));
  int depth = 0;
  for (char c : d) {
    depth += c == '{' ? 1 : c == '}' ? -1 : 0;
    EXPECT_GE(depth, 0);
  }
  EXPECT_EQ(depth, 0);
  std::string pair = render_dot(one_host("h200_nv18_pair.xml"));
  // The bridge listed by both GPUs is drawn once.
  size_t first = pair.find("\"h0/gpu0\" -- \"h0/gpu1\"");
  EXPECT_NE(first, std::string::npos);
  EXPECT_EQ(pair.find("\"h0/gpu1\" -- \"h0/gpu0\""), std::string::npos);
  EXPECT_EQ(pair.find("\"h0/gpu0\" -- \"h0/gpu1\"", first + 1), std::string::npos);
}

}  // namespace
}  // namespace tdm::topo
