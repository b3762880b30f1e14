#include "topo/xml.h"

#include <cstdint>

#include "util/error.h"

namespace tdm::topo::xml {

const std::string* Node::find(std::string_view key) const {
  for (const auto& [k, v] : attrs)
    if (k == key) return &v;
  return nullptr;
}

std::string Node::get(std::string_view key, std::string_view fallback) const {
  const std::string* v = find(key);
  return v ? *v : std::string(fallback);
}

void Node::set(std::string_view key, std::string value) {
  for (auto& [k, v] : attrs) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  attrs.emplace_back(std::string(key), std::move(value));
}

Node& Node::add(std::string child_name) {
  children.emplace_back();
  children.back().name = std::move(child_name);
  return children.back();
}

namespace {

// Deeper nesting than any real topology; bounds the recursion on hostile input.
constexpr int kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : s_(text), source_(source) {}

  Node document() {
    skip_misc();
    if (at_end() || peek() != '<') fail("expected the root element");
    Node root = element(0);
    skip_misc();
    if (!at_end()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    int line = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); ++i)
      if (s_[i] == '\n') ++line;
    throw_error(tdmInvalidArgument, source_, ":", line, ": malformed XML: ", what);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  bool starts_with(std::string_view p) const { return s_.substr(pos_).starts_with(p); }
  void skip_space() {
    while (!at_end() && is_space(peek())) ++pos_;
  }
  void skip_past(std::string_view terminator, std::string_view what) {
    size_t end = s_.find(terminator, pos_);
    if (end == std::string_view::npos) fail(std::string("unterminated ") + std::string(what));
    pos_ = end + terminator.size();
  }

  // Whitespace, comments, processing instructions and DOCTYPE between elements.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (starts_with("<!--")) {
        skip_past("-->", "comment");
      } else if (starts_with("<?")) {
        skip_past("?>", "processing instruction");
      } else if (starts_with("<!DOCTYPE")) {
        skip_past(">", "DOCTYPE");
      } else {
        return;
      }
    }
  }

  std::string name() {
    if (at_end() || !is_name_start(peek())) fail("expected a name");
    size_t start = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  std::string decode(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '<') fail("'<' inside an attribute value");
      if (c != '&') {
        out += c;
        continue;
      }
      size_t semi = raw.find(';', i);
      if (semi == std::string_view::npos) fail("unterminated entity");
      std::string_view ent = raw.substr(i + 1, semi - i - 1);
      if (ent == "lt")
        out += '<';
      else if (ent == "gt")
        out += '>';
      else if (ent == "amp")
        out += '&';
      else if (ent == "quot")
        out += '"';
      else if (ent == "apos")
        out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') {
        bool hex = ent[1] == 'x' || ent[1] == 'X';
        std::string_view digits = ent.substr(hex ? 2 : 1);
        if (digits.empty() || digits.size() > 8) fail("bad character reference");
        uint32_t cp = 0;
        for (char d : digits) {
          int v = (d >= '0' && d <= '9')          ? d - '0'
                  : hex && (d >= 'a' && d <= 'f') ? d - 'a' + 10
                  : hex && (d >= 'A' && d <= 'F') ? d - 'A' + 10
                                                  : -1;
          if (v < 0) fail("bad character reference");
          cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(v);
        }
        if (cp == 0 || cp > 0x10FFFF) fail("character reference out of range");
        append_utf8(out, cp);
      } else {
        fail("unknown entity &" + std::string(ent) + ";");
      }
      i = semi;
    }
    return out;
  }

  Node element(int depth) {
    if (depth > kMaxDepth) fail("elements nested too deeply");
    ++pos_;  // '<'
    Node node;
    node.name = name();
    for (;;) {
      size_t before = pos_;
      skip_space();
      if (at_end()) fail("unterminated start tag <" + node.name + ">");
      if (starts_with("/>")) {
        pos_ += 2;
        return node;
      }
      if (peek() == '>') {
        ++pos_;
        break;
      }
      if (pos_ == before) fail("expected whitespace between attributes");
      std::string key = name();
      skip_space();
      if (at_end() || peek() != '=') fail("expected '=' after attribute " + key);
      ++pos_;
      skip_space();
      if (at_end() || (peek() != '"' && peek() != '\'')) fail("attribute value must be quoted");
      char quote = peek();
      size_t end = s_.find(quote, pos_ + 1);
      if (end == std::string_view::npos) fail("unterminated attribute value");
      std::string value = decode(s_.substr(pos_ + 1, end - pos_ - 1));
      pos_ = end + 1;
      if (node.find(key)) fail("duplicate attribute " + key);
      node.attrs.emplace_back(std::move(key), std::move(value));
    }
    // Content: child elements, comments; text is ignored.
    for (;;) {
      size_t lt = s_.find('<', pos_);
      if (lt == std::string_view::npos) fail("missing </" + node.name + ">");
      pos_ = lt;
      if (starts_with("<!--")) {
        skip_past("-->", "comment");
      } else if (starts_with("<![CDATA[")) {
        skip_past("]]>", "CDATA section");
      } else if (starts_with("<?")) {
        skip_past("?>", "processing instruction");
      } else if (starts_with("</")) {
        pos_ += 2;
        std::string closing = name();
        if (closing != node.name) fail("</" + closing + "> closes <" + node.name + ">");
        skip_space();
        if (at_end() || peek() != '>') fail("expected '>'");
        ++pos_;
        return node;
      } else {
        node.children.push_back(element(depth + 1));
      }
    }
  }

  std::string_view s_;
  std::string_view source_;
  size_t pos_ = 0;
};

void write_node(const Node& node, bool pretty, int depth, std::string& out) {
  if (pretty) out.append(static_cast<size_t>(depth) * 2, ' ');
  out += '<';
  out += node.name;
  for (const auto& [k, v] : node.attrs) {
    out += ' ';
    out += k;
    out += "=\"";
    out += escape(v);
    out += '"';
  }
  if (node.children.empty()) {
    out += "/>";
    if (pretty) out += '\n';
    return;
  }
  out += '>';
  if (pretty) out += '\n';
  for (const Node& child : node.children) write_node(child, pretty, depth + 1, out);
  if (pretty) out.append(static_cast<size_t>(depth) * 2, ' ');
  out += "</";
  out += node.name;
  out += '>';
  if (pretty) out += '\n';
}

}  // namespace

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Node parse(std::string_view text, std::string_view source) {
  return Parser(text, source).document();
}

std::string write(const Node& root, bool pretty) {
  std::string out;
  write_node(root, pretty, 0, out);
  return out;
}

}  // namespace tdm::topo::xml
