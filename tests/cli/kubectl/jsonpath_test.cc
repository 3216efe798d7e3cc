#include "cli/kubectl/jsonpath.h"

#include <gtest/gtest.h>

namespace ditto::control {
namespace {

const Json kList = Json::parse(R"({"kind":"List","items":[
  {"metadata":{"name":"a","labels":{"tier":"db"}},"status":{"phase":"Bound"},"spec":{"n":3}},
  {"metadata":{"name":"b"},"status":{"phase":"Pending"},"spec":{"n":1}},
  {"metadata":{"name":"c","annotations":{"x.io/k":"v"}},"status":{"phase":"Bound"},"spec":{"n":2}}]})");

std::string Template(const std::string& text, const Json& input = kList) {
  auto path = JsonPath::Parse(text);
  EXPECT_TRUE(path.ok()) << text << ": " << path.status();
  return path.ok() ? path->Execute(input) : "";
}

TEST(JsonPathTest, FieldsIndexesSlicesAndWildcards) {
  EXPECT_EQ(Template("{.items[*].metadata.name}"), "a b c");
  EXPECT_EQ(Template("{.items[0].metadata.name}"), "a");
  EXPECT_EQ(Template("{.items[-1].metadata.name}"), "c");
  EXPECT_EQ(Template("{.items[0:2].metadata.name}"), "a b");
  EXPECT_EQ(Template("{$.kind}"), "List");
  EXPECT_EQ(Template("{..phase}"), "Bound Pending Bound");
  EXPECT_EQ(Template("{.items[2].metadata.annotations['x.io/k']}"), "v");
  EXPECT_EQ(Template("name: {.items[1].metadata.name}!"), "name: b!");
  EXPECT_EQ(Template("{.items[0].metadata.labels}"), R"({"tier":"db"})");
  EXPECT_EQ(Template("{.items[5].metadata.name}{.missing}"), "");
}

TEST(JsonPathTest, FiltersAndRanges) {
  EXPECT_EQ(Template(R"({.items[?(@.status.phase=="Bound")].metadata.name})"), "a c");
  EXPECT_EQ(Template(R"({.items[?(@.spec.n>1)].metadata.name})"), "a c");
  EXPECT_EQ(Template(R"({.items[?(@.metadata.labels.tier)].metadata.name})"), "a");
  EXPECT_EQ(Template(R"({.items[?(@.status.phase!='Bound')].metadata.name})"), "b");
  EXPECT_EQ(Template(R"({range .items[*]}{.metadata.name}:{.spec.n}{"\n"}{end})"), "a:3\nb:1\nc:2\n");
  EXPECT_EQ(Template(R"({range .items[?(@.spec.n<3)]}[{.metadata.name}]{end})"), "[b][c]");
}

TEST(JsonPathTest, RelaxedForm) {
  for (const char* text : {".metadata.name", "metadata.name", "{.metadata.name}"}) {
    auto path = JsonPath::ParseRelaxed(text);
    ASSERT_TRUE(path.ok()) << text;
    EXPECT_EQ(path->Execute(kList["items"][0]), "a") << text;
  }
}

TEST(JsonPathTest, ErrorsSayWhere) {
  for (const char* bad : {"{.items[*", "{.a", "{range .items[*]}x", "{end}", "{.items[?(@.a==)]}",
                          "{}"}) {
    auto path = JsonPath::Parse(bad);
    EXPECT_FALSE(path.ok()) << bad;
    EXPECT_NE(path.status().message().find("error parsing jsonpath"), std::string::npos)
        << path.status();
  }
}

}  // namespace
}  // namespace ditto::control
