// LinuxHost's btrfs subvolume ioctls, FS_NOCOW_FL and syncfs against a real
// loop-mounted btrfs (root).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "host/linux_host.h"
#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/test_data.h"

namespace ditto::host {
namespace {

using test::LoopFilesystem;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

class LinuxHostBtrfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    auto fs = LoopFilesystem::Create("btrfs", 1024 * kMiB);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = *std::move(fs);
    dir_ = fs_->mount_point();
  }

  std::unique_ptr<LoopFilesystem> fs_;
  std::string dir_;
  LinuxHost host_;
};

TEST_F(LinuxHostBtrfsTest, SubvolumeSnapshotsAreIndependentCopies) {
  std::string source = dir_ + "/source";
  ASSERT_TRUE(host_.CreateSubvolume(source).ok());
  EXPECT_TRUE(*host_.IsSubvolume(source));
  ASSERT_TRUE(host_.SetNoCow(source).ok());
  std::string image = source + "/disk.img";
  ASSERT_TRUE(host_.CreateSparseFile(image, 64 * kMiB).ok());
  std::string original = test::PatternData(1 * kMiB, 7);
  ASSERT_TRUE(host_.WriteAt(image, 4 * kMiB, original).ok());

  std::string clone = dir_ + "/clone";
  ASSERT_TRUE(host_.SnapshotSubvolume(source, clone, /*read_only=*/false).ok());
  std::string frozen = dir_ + "/frozen";
  ASSERT_TRUE(host_.SnapshotSubvolume(source, frozen, /*read_only=*/true).ok());
  EXPECT_TRUE(*host_.IsSubvolume(clone));
  EXPECT_EQ(*host_.ReadAt(clone + "/disk.img", 4 * kMiB, kMiB), original);
  // The snapshot shares the source's blocks.
  auto extents = host_.Extents(clone + "/disk.img");
  ASSERT_TRUE(extents.ok()) << extents.status();
  ASSERT_FALSE(extents->empty());
  EXPECT_TRUE((*extents)[0].shared);

  // Writes to one are invisible to the others.
  ASSERT_TRUE(host_.WriteAt(clone + "/disk.img", 4 * kMiB, "changed").ok());
  ASSERT_TRUE(host_.WriteAt(image, 4 * kMiB + 100, "source changed").ok());
  EXPECT_EQ(*host_.ReadAt(frozen + "/disk.img", 4 * kMiB, kMiB), original);
  EXPECT_EQ(*host_.ReadAt(clone + "/disk.img", 4 * kMiB, 7), "changed");
  EXPECT_EQ(host_.ReadAt(clone + "/disk.img", 4 * kMiB + 100, 14)->substr(0, 14),
            original.substr(100, 14));

  // A read-only snapshot refuses changes, and can still be deleted.
  Status write = host_.WriteAt(frozen + "/disk.img", 0, "x");
  EXPECT_FALSE(write.ok());
  EXPECT_FALSE(host_.CreateSparseFile(frozen + "/new.img", 1).ok());
  // No parent chain: the source goes, its snapshots stay whole.
  ASSERT_TRUE(host_.DeleteSubvolume(source).ok());
  EXPECT_EQ(*host_.ReadAt(frozen + "/disk.img", 4 * kMiB, kMiB), original);
  ASSERT_TRUE(host_.DeleteSubvolume(frozen).ok());
  ASSERT_TRUE(host_.DeleteSubvolume(clone).ok());
  EXPECT_TRUE(absl::IsNotFound(host_.Stat(clone).status()));
  EXPECT_TRUE(absl::IsNotFound(host_.DeleteSubvolume(clone)));
}

TEST_F(LinuxHostBtrfsTest, NoCowIsInheritedByNewFiles) {
  std::string sub = dir_ + "/nocow";
  ASSERT_TRUE(host_.CreateSubvolume(sub).ok());
  ASSERT_TRUE(host_.SetNoCow(sub).ok());
  ASSERT_TRUE(host_.CreateSparseFile(sub + "/disk.img", kMiB).ok());
  auto lsattr = host_.Run({"lsattr", sub + "/disk.img"});
  ASSERT_TRUE(lsattr.ok()) << lsattr.status();
  EXPECT_EQ(lsattr->exit_code, 0) << lsattr->stderr_text;
  EXPECT_THAT(lsattr->stdout_text.substr(0, lsattr->stdout_text.find(' ')), HasSubstr("C"));
}

TEST_F(LinuxHostBtrfsTest, ErrorsNameTheOperation) {
  EXPECT_FALSE(host_.CreateSubvolume(dir_).ok());  // the mount point exists
  ASSERT_TRUE(host_.CreateSubvolume(dir_ + "/a").ok());
  Status again = host_.CreateSubvolume(dir_ + "/a");
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  Status missing = host_.SnapshotSubvolume(dir_ + "/missing", dir_ + "/b", false);
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  ASSERT_TRUE(host_.MakeDirectories(dir_ + "/plain", 0700).ok());
  EXPECT_FALSE(*host_.IsSubvolume(dir_ + "/plain"));
  Status not_subvolume = host_.DeleteSubvolume(dir_ + "/plain");
  EXPECT_FALSE(not_subvolume.ok());
  EXPECT_THAT(std::string(not_subvolume.message()), HasSubstr("BTRFS_IOC_SNAP_DESTROY_V2"));
  EXPECT_TRUE(host_.SyncFilesystem(dir_).ok());
}

TEST_F(LinuxHostBtrfsTest, SubvolumesNeedBtrfs) {
  auto xfs = LoopFilesystem::Create("xfs");
  ASSERT_TRUE(xfs.ok()) << xfs.status();
  Status status = host_.CreateSubvolume((*xfs)->mount_point() + "/v");
  EXPECT_TRUE(absl::IsUnimplemented(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("btrfs"));
  EXPECT_FALSE(*host_.IsSubvolume((*xfs)->mount_point()));
}

}  // namespace
}  // namespace ditto::host
