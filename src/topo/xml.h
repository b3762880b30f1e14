// A small XML reader/writer, enough for NCCL's topology files: elements with
// attributes, comments, an optional <?xml?> prolog and DOCTYPE, the five
// predefined entities and numeric character references. Text content is
// ignored (the format has none). Kept in-tree to avoid a parser dependency.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tdm::topo::xml {

struct Node {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attrs;  // document order
  std::vector<Node> children;

  const std::string* find(std::string_view key) const;
  std::string get(std::string_view key, std::string_view fallback = "") const;
  // Replaces an existing attribute or appends a new one.
  void set(std::string_view key, std::string value);
  Node& add(std::string child_name);
};

// Throws tdmInvalidArgument "source:line: what" on malformed input.
Node parse(std::string_view text, std::string_view source = "<string>");
// pretty: two-space indentation and a newline per element, as NCCL writes.
std::string write(const Node& root, bool pretty = true);
std::string escape(std::string_view text);

}  // namespace tdm::topo::xml
