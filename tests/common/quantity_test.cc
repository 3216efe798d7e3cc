#include "common/quantity.h"

#include <gtest/gtest.h>

namespace ditto {
namespace {

TEST(QuantityTest, ParsesKubernetesForms) {
  EXPECT_EQ(*ParseQuantity("5Gi"), 5LL << 30);
  EXPECT_EQ(*ParseQuantity("500M"), 500000000);
  EXPECT_EQ(*ParseQuantity("1.5Gi"), 3LL << 29);
  EXPECT_EQ(*ParseQuantity("1e9"), 1000000000);
  EXPECT_EQ(*ParseQuantity("1024"), 1024);
  EXPECT_EQ(*ParseQuantity("1k"), 1000);
  EXPECT_EQ(*ParseQuantity("+2Ki"), 2048);
}

TEST(QuantityTest, RejectsBadInputWithAClearMessage) {
  for (const char* bad : {"", "5Gx", "-1Gi", "Gi", "1..5", "9Ei9", "100Ei", "1e99", "1e", "abc"}) {
    auto parsed = ParseQuantity(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(parsed.status().message().find("for example 5Gi"), std::string::npos);
    }
  }
}

TEST(QuantityTest, FormatsShortestBinaryForm) {
  EXPECT_EQ(FormatQuantity(5LL << 30), "5Gi");
  EXPECT_EQ(FormatQuantity(1536LL << 20), "1536Mi");
  EXPECT_EQ(FormatQuantity(1000), "1000");
  EXPECT_EQ(FormatQuantity(0), "0");
  EXPECT_EQ(HumanBytes(1536ULL << 20), "1.5 GiB");
}

}  // namespace
}  // namespace ditto
