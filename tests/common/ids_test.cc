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

TEST(IdsTest, TaggedIdsStartWithTheirNodeTag) {
  // The first 32 bits of SHA-256("node-a").
  EXPECT_EQ(NodeTag("node-a"), "66570ff0");
  EXPECT_NE(NodeTag("node-a"), NodeTag("node-b"));
  std::string tag = NodeTag("node-a");
  std::string volume = NewVolumeId(tag);
  std::string snapshot = NewSnapshotId(tag);
  EXPECT_TRUE(IsValidVolumeId(volume)) << volume;
  EXPECT_TRUE(IsValidSnapshotId(snapshot)) << snapshot;
  EXPECT_EQ(volume.substr(4, 8), tag);
  EXPECT_EQ(TagOfId(volume), tag);
  EXPECT_EQ(TagOfId(snapshot), tag);
  EXPECT_NE(NewVolumeId(tag), volume);  // the rest is random
  EXPECT_EQ(TagOfId("vol-xyz"), "");
  EXPECT_EQ(TagOfId("group-0123456789abcdef0123456789abcdef"), "");
  // No tag, or a malformed one: all random, as before.
  EXPECT_TRUE(IsValidVolumeId(NewVolumeId("")));
  EXPECT_TRUE(IsValidVolumeId(NewVolumeId("../x")));
}

TEST(IdsTest, ValidatesNames) {
  EXPECT_TRUE(ValidateName("pvc-1234").ok());
  EXPECT_FALSE(ValidateName("").ok());
  EXPECT_FALSE(ValidateName(std::string(129, 'x')).ok());
  EXPECT_FALSE(ValidateName(std::string("a\nb")).ok());
}

}  // namespace
}  // namespace ditto
