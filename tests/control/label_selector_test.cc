#include "control/api/label_selector.h"

#include <gtest/gtest.h>

namespace ditto::control {
namespace {

Json Labels(const Json& labels) { return {{"metadata", {{"labels", labels}}}}; }

bool Match(const std::string& selector, const Json& labels) {
  auto parsed = LabelSelector::Parse(selector);
  EXPECT_TRUE(parsed.ok()) << selector << ": " << parsed.status();
  return parsed.ok() && parsed->MatchesObject(Labels(labels));
}

TEST(LabelSelectorTest, EqualityBased) {
  Json web = {{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE(Match("app=web", web));
  EXPECT_TRUE(Match("app==web", web));
  EXPECT_TRUE(Match("app=web,tier=front", web));
  EXPECT_FALSE(Match("app=web,tier=back", web));
  EXPECT_TRUE(Match("app!=db", web));
  EXPECT_TRUE(Match("env!=prod", web));  // absent key: != matches
  EXPECT_TRUE(Match("", web));
}

TEST(LabelSelectorTest, SetBased) {
  Json web = {{"app", "web"}, {"example.com/tier", "front"}};
  EXPECT_TRUE(Match("app in (web, db)", web));
  EXPECT_FALSE(Match("app notin (web)", web));
  EXPECT_TRUE(Match("env notin (prod)", web));
  EXPECT_TRUE(Match("example.com/tier", web));
  EXPECT_FALSE(Match("!app", web));
  EXPECT_TRUE(Match("!env,app in (web)", web));
  EXPECT_FALSE(Match("env", Json()));
}

TEST(LabelSelectorTest, BadSelectorsSayWhatIsWrong) {
  for (const char* bad : {"app in web", "app=(x)", "in (a)", "app in ()", "-app=x", "app=x,",
                          "app=" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto parsed = LabelSelector::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("unable to parse requirement"), std::string::npos)
        << parsed.status();
  }
}

TEST(LabelSelectorTest, FromJsonObject) {
  Json selector = {{"matchLabels", {{"app", "web"}}},
                   {"matchExpressions",
                    Json::array({{{"key", "tier"}, {"operator", "In"}, {"values", {"a", "b"}}},
                                 {{"key", "legacy"}, {"operator", "DoesNotExist"}}})}};
  auto parsed = LabelSelector::FromJson(selector, "spec.selector");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->Matches({{"app", "web"}, {"tier", "a"}}));
  EXPECT_FALSE(parsed->Matches({{"app", "web"}, {"tier", "a"}, {"legacy", "1"}}));
  EXPECT_FALSE(parsed->Matches({{"app", "web"}}));
  auto bad = LabelSelector::FromJson(
      {{"matchExpressions", Json::array({{{"key", "a"}, {"operator", "Near"}}})}}, "spec.selector");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.selector.matchExpressions[0]"), std::string::npos);
}

}  // namespace
}  // namespace ditto::control
