// FakeHost's btrfs subvolumes behave as the real ones do where the pool
// relies on it (see linux_host_btrfs_test.cc for the real ones).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/fake_host.h"

namespace ditto::host {
namespace {

using ::testing::HasSubstr;

class FakeHostBtrfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.set_filesystem_type("btrfs");
    ASSERT_TRUE(host_.MakeDirectories("/pool", 0700).ok());
  }
  FakeHost host_;
};

TEST_F(FakeHostBtrfsTest, SnapshotsShareBlocksAndStayIndependent) {
  ASSERT_TRUE(host_.CreateSubvolume("/pool/a").ok());
  ASSERT_TRUE(host_.SetNoCow("/pool/a").ok());
  ASSERT_TRUE(host_.CreateSparseFile("/pool/a/disk.img", 1 << 20).ok());
  ASSERT_TRUE(host_.WriteAt("/pool/a/disk.img", 0, "hello").ok());
  ASSERT_TRUE(host_.SnapshotSubvolume("/pool/a", "/pool/b", false).ok());
  ASSERT_TRUE(host_.SnapshotSubvolume("/pool/a", "/pool/ro", true).ok());
  EXPECT_TRUE(*host_.IsSubvolume("/pool/b"));
  EXPECT_FALSE(*host_.IsSubvolume("/pool"));
  EXPECT_TRUE((*host_.Extents("/pool/b/disk.img"))[0].shared);
  uint64_t used = host_.used_bytes();
  ASSERT_TRUE(host_.WriteAt("/pool/b/disk.img", 0, "HELLO").ok());
  EXPECT_EQ(*host_.ReadAt("/pool/a/disk.img", 0, 5), "hello");
  EXPECT_EQ(*host_.ReadAt("/pool/b/disk.img", 0, 5), "HELLO");
  EXPECT_GT(host_.used_bytes(), used);

  Status refused = host_.WriteAt("/pool/ro/disk.img", 0, "x");
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("Read-only"));
  EXPECT_FALSE(host_.Remove("/pool/ro/disk.img").ok());
  EXPECT_FALSE(host_.Remove("/pool/b").ok());  // a subvolume goes with DeleteSubvolume

  ASSERT_TRUE(host_.DeleteSubvolume("/pool/a").ok());
  ASSERT_TRUE(host_.DeleteSubvolume("/pool/ro").ok());
  EXPECT_TRUE(absl::IsNotFound(host_.Stat("/pool/a/disk.img").status()));
  EXPECT_EQ(*host_.ReadAt("/pool/b/disk.img", 0, 5), "HELLO");
  EXPECT_FALSE((*host_.Extents("/pool/b/disk.img"))[0].shared);
  EXPECT_TRUE(absl::IsNotFound(host_.DeleteSubvolume("/pool/a")));
}

TEST_F(FakeHostBtrfsTest, DeleteTakesOnlyTheSubvolumeNotItsNamesakes) {
  ASSERT_TRUE(host_.CreateSubvolume("/pool/v").ok());
  ASSERT_TRUE(host_.CreateSparseFile("/pool/v-1", 1).ok());
  ASSERT_TRUE(host_.CreateSparseFile("/pool/v/disk.img", 1).ok());
  ASSERT_TRUE(host_.DeleteSubvolume("/pool/v").ok());
  EXPECT_TRUE(host_.Stat("/pool/v-1").ok());
}

TEST_F(FakeHostBtrfsTest, SubvolumesNeedBtrfs) {
  host_.set_filesystem_type("xfs");
  Status status = host_.CreateSubvolume("/pool/a");
  EXPECT_TRUE(absl::IsUnimplemented(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("btrfs"));
  ASSERT_TRUE(host_.MakeDirectories("/pool/d", 0700).ok());
  Status not_subvolume = host_.DeleteSubvolume("/pool/d");
  EXPECT_FALSE(not_subvolume.ok());
}

}  // namespace
}  // namespace ditto::host
