// The in-tree XML reader/writer used for NCCL topology files.
#include "topo/xml.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace tdm::topo::xml {
namespace {

TEST(TopoXml, ParsesElementsAttributesAndNesting) {
  Node root = parse(R"(<?xml version="1.0"?>
<!-- a comment -->
<system version="1">
  <cpu numaid="0" affinity='ff'>
    <pci busid="0000:01:00.0"/>
    <pci busid="0000:02:00.0"></pci>
  </cpu>
</system>
)");
  EXPECT_EQ(root.name, "system");
  EXPECT_EQ(root.get("version"), "1");
  ASSERT_EQ(root.children.size(), 1u);
  const Node& cpu = root.children[0];
  EXPECT_EQ(cpu.get("affinity"), "ff");
  ASSERT_EQ(cpu.children.size(), 2u);
  EXPECT_EQ(cpu.children[1].get("busid"), "0000:02:00.0");
  EXPECT_EQ(cpu.get("missing", "dflt"), "dflt");
  EXPECT_EQ(cpu.find("missing"), nullptr);
}

TEST(TopoXml, DecodesEntitiesAndIgnoresText) {
  Node root = parse(
      "<a v=\"x &lt;&gt; &amp; &quot;&apos; &#65;&#x42;&#xe9;\">text <!-- c --> more"
      "<![CDATA[<raw>]]><b/></a>");
  EXPECT_EQ(root.get("v"), "x <> & \"' AB\xc3\xa9");
  ASSERT_EQ(root.children.size(), 1u);
  EXPECT_EQ(root.children[0].name, "b");
}

TEST(TopoXml, WriterEscapesAndRoundTrips) {
  Node root;
  root.name = "system";
  root.set("name", "a<b>&\"c'");
  Node& child = root.add("cpu");
  child.set("numaid", "0");
  child.set("numaid", "1");  // set replaces
  std::string text = write(root);
  EXPECT_NE(text.find("&lt;b&gt;&amp;&quot;c&apos;"), std::string::npos);
  EXPECT_EQ(text,
            "<system name=\"a&lt;b&gt;&amp;&quot;c&apos;\">\n  <cpu numaid=\"1\"/>\n</system>\n");
  Node back = parse(text);
  EXPECT_EQ(back.get("name"), "a<b>&\"c'");
  EXPECT_EQ(back.children[0].get("numaid"), "1");
  EXPECT_EQ(write(root, /*pretty=*/false),
            "<system name=\"a&lt;b&gt;&amp;&quot;c&apos;\"><cpu numaid=\"1\"/></system>");
}

std::string error_of(std::string_view text) {
  try {
    parse(text, "f.xml");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), tdmInvalidArgument);
    return e.what();
  }
  return "no error";
}

TEST(TopoXml, RejectsMalformedInputWithLineNumbers) {
  EXPECT_NE(error_of("<a>\n<b>\n</a>").find("f.xml:3: malformed XML: </a> closes <b>"),
            std::string::npos);
  EXPECT_NE(error_of("").find("expected the root element"), std::string::npos);
  EXPECT_NE(error_of("<a x=1/>").find("quoted"), std::string::npos);
  EXPECT_NE(error_of("<a x=\"1\" x=\"2\"/>").find("duplicate attribute x"), std::string::npos);
  EXPECT_NE(error_of("<a x=\"&bogus;\"/>").find("unknown entity"), std::string::npos);
  EXPECT_NE(error_of("<a x=\"1\"y=\"2\"/>").find("whitespace"), std::string::npos);
  EXPECT_NE(error_of("<a/><b/>").find("after the root"), std::string::npos);
  EXPECT_NE(error_of("<a>").find("missing </a>"), std::string::npos);
  EXPECT_NE(error_of("<a x=\"&#0;\"/>").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("<!-- open").find("unterminated comment"), std::string::npos);
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  EXPECT_NE(error_of(deep).find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace tdm::topo::xml
