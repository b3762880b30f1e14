// Printing a JobTopology for people and tools: tree, nvidia-smi-style matrix,
// JSON (schema in docs/topology.md) and Graphviz DOT. A single host is a job
// with no ranks (build({host}, {})), so tandem-topo prints one host and a whole
// job the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "topo/topology.h"

namespace tdm::topo {

std::string render_tree(const JobTopology& job);
std::string render_matrix(const JobTopology& job);
std::string render_json(const JobTopology& job);
std::string render_dot(const JobTopology& job);

// JSON lists cross-host GPU pairs only up to this many hosts (they are all NET and
// grow quadratically); beyond it "cross_host_paths" is false.
inline constexpr int kJsonMaxHostsForCrossPaths = 8;

}  // namespace tdm::topo
