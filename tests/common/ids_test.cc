#include "common/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace ditto {
namespace {

TEST(IdsTest, GeneratedIdsAreValidAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewVolumeId();
    EXPECT_TRUE(IsValidVolumeId(id)) << id;
    EXPECT_FALSE(IsValidSnapshotId(id));
    EXPECT_TRUE(seen.insert(id).second);
  }
  EXPECT_TRUE(IsValidSnapshotId(NewSnapshotId()));
}

TEST(IdsTest, RejectsHostileIds) {
  std::string nul("vol-0123456789abcdef0123456789abcde\0", 36);
  for (const std::string& bad :
       {std::string("../etc/passwd"), std::string("vol-../../x"), std::string("vol-"), nul,
        std::string(10000, 'a'), std::string("vol-0123456789ABCDEF0123456789ABCDEF"),
        std::string("vol-0123456789abcdef0123456789abcdef/")}) {
    Status status = ValidateVolumeId(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ValidateVolumeId("").code(), absl::StatusCode::kInvalidArgument);
}

TEST(IdsTest, ValidatesNames) {
  EXPECT_TRUE(ValidateName("pvc-1234").ok());
  EXPECT_FALSE(ValidateName("").ok());
  EXPECT_FALSE(ValidateName(std::string(129, 'x')).ok());
  EXPECT_FALSE(ValidateName(std::string("a\nb")).ok());
}

}  // namespace
}  // namespace ditto
