// tandem-topo: prints what Tandem sees of a host (or of several hosts given as
// NCCL topology XML files) as a tree, an nvidia-smi-style matrix, JSON, Graphviz
// DOT or SVG, or writes the host as NCCL topology XML.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "bootstrap/launcher_env.h"
#include "comm/comm.h"
#include "tests/common/device_choice.h"
#include "topo/render.h"
#include "topo/topology.h"

extern char** environ;

namespace {

using tdm::topo::HostTopology;
using tdm::topo::JobTopology;

constexpr const char* kUsage =
    "Usage: tandem-topo [--file FILE]... [--format FORMAT] [--output FILE]\n"
    "\n"
    "Prints this host's topology (probed, or read from TANDEM_TOPO_FILE), or the hosts\n"
    "described by NCCL topology XML files (one --file per host; several make a job view).\n"
    "Under a launcher (tandemrun, mpirun, torchrun-style env) it prints the whole job,\n"
    "with every rank's placement and the ring order, from rank 0.\n"
    "\n"
    "  --file FILE      read a topology XML file (as NCCL_TOPO_DUMP_FILE writes) instead of "
    "probing\n"
    "  --format FORMAT  tree (default), matrix, json, dot, svg (needs Graphviz 'dot'), xml\n"
    "  --output FILE    write to FILE instead of standard output\n"
    "  --help           this text\n"
    "\n"
    "JSON schema and path classes: docs/topology.md.\n";

struct Options {
  std::vector<std::string> files;
  std::string format = "tree";
  std::string output;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "tandem-topo: " << what << "\n\n" << kUsage;
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& flag) -> std::string {
      size_t eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--file" || a.starts_with("--file=")) {
      o.files.push_back(value("--file"));
    } else if (a == "--format" || a.starts_with("--format=")) {
      o.format = value("--format");
    } else if (a == "--output" || a == "-o" || a.starts_with("--output=")) {
      o.output = value("--output");
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  static const char* kFormats[] = {"tree", "matrix", "json", "dot", "svg", "xml"};
  bool known = false;
  for (const char* f : kFormats) known = known || o.format == f;
  if (!known) usage_error("unknown format '" + o.format + "'");
  return o;
}

// One GPU per local rank, as the tests and perf tools choose it
// (tests/common/device_choice.h), so the job view places ranks on GPUs.
void use_local_gpu() {
#if TANDEM_HAVE_CUDA
  tdm::test::choose_device();  // without a usable device the view has no GPUs
#endif
}

// True when a launcher started this process as one rank of a job.
bool under_launcher() {
  for (const char* var : {"TANDEM_UNIQUE_ID", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(var)) return true;
  return std::getenv("RANK") && std::getenv("WORLD_SIZE") && std::getenv("MASTER_ADDR");
}

// Where the topology comes from: files (one host each, no ranks), the whole job
// under a launcher, or this host. `printer` is false on ranks that stay quiet.
JobTopology obtain_topology(const Options& o, bool& printer) {
  printer = true;
  std::vector<HostTopology> hosts;
  if (o.files.empty() && under_launcher()) {
    // The whole job: a communicator exchanges every rank's host description;
    // rank 0 prints what all ranks agreed on.
    tdm::bootstrap::World world = tdm::bootstrap::resolve_world();
    use_local_gpu();
    auto comm = tdm::create_comm(world.id, world.nranks, world.rank, nullptr);
    printer = comm->rank == 0;
    return comm->topology;
  }
  if (o.files.empty()) {
    hosts.push_back(tdm::topo::local_host());
  } else {
    for (const std::string& f : o.files) hosts.push_back(tdm::topo::load_xml(f));
  }
  return tdm::topo::build(std::move(hosts), {});
}

bool on_path(const char* exe) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p = path;
  for (size_t start = 0; start <= p.size();) {
    size_t colon = p.find(':', start);
    if (colon == std::string::npos) colon = p.size();
    std::string dir = p.substr(start, colon - start);
    if (!dir.empty() && access((dir + "/" + exe).c_str(), X_OK) == 0) return true;
    start = colon + 1;
  }
  return false;
}

// Runs Graphviz on a temporary DOT file; dot writes the SVG to `output` or stdout.
int write_svg(const std::string& dot_text, const std::string& output) {
  if (!on_path("dot")) {
    std::cerr << "tandem-topo: Graphviz 'dot' is not installed; use --format dot and render "
                 "the file elsewhere (dot -Tsvg topo.dot -o topo.svg)\n";
    return 1;
  }
  char tmp[] = "/tmp/tandem-topo-XXXXXX";
  int fd = mkstemp(tmp);
  if (fd < 0) {
    std::cerr << "tandem-topo: cannot create a temporary file: " << std::strerror(errno) << "\n";
    return 1;
  }
  bool written =
      write(fd, dot_text.data(), dot_text.size()) == static_cast<ssize_t>(dot_text.size());
  close(fd);
  int rc = 1;
  if (written) {
    std::vector<std::string> args = {"dot", "-Tsvg"};
    if (!output.empty()) {
      args.push_back("-o");
      args.push_back(output);
    }
    args.push_back(tmp);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ) == 0) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
      if (rc) std::cerr << "tandem-topo: dot failed\n";
    } else {
      std::cerr << "tandem-topo: cannot run dot\n";
    }
  }
  unlink(tmp);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  try {
    bool printer = true;
    JobTopology job = obtain_topology(o, printer);
    if (!printer) return 0;
    std::string text;
    if (o.format == "tree")
      text = tdm::topo::render_tree(job);
    else if (o.format == "matrix")
      text = tdm::topo::render_matrix(job);
    else if (o.format == "json")
      text = tdm::topo::render_json(job);
    else if (o.format == "dot" || o.format == "svg")
      text = tdm::topo::render_dot(job);
    else if (o.format == "xml") {
      if (job.nhosts() != 1) {
        std::cerr << "tandem-topo: --format xml describes one host; give one --file\n";
        return 2;
      }
      text = tdm::topo::to_xml_string(job.host(0));
    }
    if (o.format == "svg") return write_svg(text, o.output);
    if (o.output.empty()) {
      std::cout << text;
      std::cout.flush();
      return std::cout ? 0 : 1;
    }
    std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::cerr << "tandem-topo: cannot write " << o.output << "\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tandem-topo: " << e.what() << "\n";
    return 1;
  }
}
