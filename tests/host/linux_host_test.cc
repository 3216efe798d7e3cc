// LinuxHost against real loop-mounted filesystems (root): XFS with reflink and
// ext4 without, loop devices, mounts, freezing.
#include "host/linux_host.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "support/loop_filesystem.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

namespace ditto::host {
namespace {

using test::LoopFilesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kMiB = 1 << 20;

// The value of a StatusOr that must be OK (a copy, safe in range-for loops).
template <typename T>
T OkValue(StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : T{};
}

MountOptions Options(bool bind, bool read_only, bool remount = false, std::string data = "") {
  MountOptions options;
  options.bind = bind;
  options.read_only = read_only;
  options.remount = remount;
  options.data = std::move(data);
  return options;
}

// Shares one XFS and one ext4 filesystem across the suite (mkfs is the slow
// part); each test works in its own directory on them.
class LinuxHostTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    xfs_.reset();
    ext4_.reset();
  }

  void SetUp() override { DITTO_REQUIRE_ROOT(); }

  // The shared filesystem of `type` with a fresh directory for this test, or
  // "" (after recording a failure) when it cannot be made.
  std::string WorkDir(const std::string& type) {
    std::unique_ptr<LoopFilesystem>& fs = type == "xfs" ? xfs_ : ext4_;
    if (fs == nullptr) {
      StatusOr<std::unique_ptr<LoopFilesystem>> made = LoopFilesystem::Create(type);
      if (!made.ok()) {
        ADD_FAILURE() << "cannot make a loop-mounted " << type << ": " << made.status();
        return "";
      }
      fs = *std::move(made);
    }
    std::string dir =
        fs->mount_point() + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    Status status = host_.MakeDirectories(dir, 0755);
    if (!status.ok()) {
      ADD_FAILURE() << status;
      return "";
    }
    return dir;
  }

  // A sparse file of `size` with pattern data in [offset, offset + length) for
  // each given range.
  void MakeFile(const std::string& path, uint64_t size,
                const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
    ASSERT_TRUE(host_.CreateSparseFile(path, size).ok());
    uint64_t seed = 1;
    for (const auto& [offset, length] : ranges) {
      ASSERT_TRUE(host_.WriteAt(path, offset, test::PatternData(length, seed++)).ok());
    }
  }

  std::string Hash(const std::string& path) {
    StatusOr<std::string> hash = test::Sha256File(path);
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : "";
  }

  static inline std::unique_ptr<LoopFilesystem> xfs_;
  static inline std::unique_ptr<LoopFilesystem> ext4_;
  LinuxHost host_;
};

TEST_F(LinuxHostTest, StatFilesystemNamesTheType) {
  std::string xfs = WorkDir("xfs");
  std::string ext4 = WorkDir("ext4");
  ASSERT_FALSE(xfs.empty() || ext4.empty());
  StatusOr<FilesystemInfo> info = host_.StatFilesystem(xfs);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->type, "xfs");
  EXPECT_GT(info->capacity_bytes, 400 * kMiB);
  EXPECT_LE(info->capacity_bytes, LoopFilesystem::kDefaultSize);
  EXPECT_GT(info->free_bytes, 0u);
  EXPECT_EQ(host_.StatFilesystem(ext4)->type, "ext4");
}

TEST_F(LinuxHostTest, ReflinkOnXfsSharesExtentsUntilWritten) {
  std::string dir = WorkDir("xfs");
  ASSERT_FALSE(dir.empty());
  const std::string source = dir + "/source.img";
  const std::string clone = dir + "/clone.img";
  MakeFile(source, 64 * kMiB, {{0, 2 * kMiB}, {32 * kMiB, kMiB}});
  uint64_t free_before = host_.StatFilesystem(dir)->free_bytes;

  ASSERT_TRUE(host_.Reflink(source, clone).ok());
  StatusOr<FileInfo> info = host_.Stat(clone);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 64 * kMiB);
  EXPECT_EQ(Hash(clone), Hash(source));
  // A clone allocates (almost) nothing new.
  EXPECT_LT(free_before - host_.StatFilesystem(dir)->free_bytes, kMiB);
  StatusOr<std::vector<Extent>> extents = host_.Extents(clone);
  ASSERT_TRUE(extents.ok()) << extents.status();
  ASSERT_FALSE(extents->empty());
  uint64_t mapped = 0;
  for (const Extent& extent : *extents) {
    EXPECT_TRUE(extent.shared) << "extent at " << extent.logical;
    mapped += extent.length;
  }
  EXPECT_EQ(mapped, 3 * kMiB);
  EXPECT_EQ(host_.Reflink(source, clone).code(), absl::StatusCode::kAlreadyExists);

  // Overwriting the clone's first range gives it private blocks there; the
  // source keeps its data and its other range stays shared.
  std::string source_hash = Hash(source);
  ASSERT_TRUE(host_.WriteAt(clone, 0, test::PatternData(2 * kMiB, 99)).ok());
  EXPECT_EQ(Hash(source), source_hash);
  EXPECT_NE(Hash(clone), source_hash);
  for (const std::string& path : {clone, source}) {
    StatusOr<std::vector<Extent>> after = host_.Extents(path);
    ASSERT_TRUE(after.ok());
    for (const Extent& extent : *after) {
      bool in_first_range = extent.logical < 2 * kMiB;
      EXPECT_EQ(extent.shared, !in_first_range) << path << " extent at " << extent.logical;
    }
  }
}

TEST_F(LinuxHostTest, ReflinkOnExt4IsUnimplementedAndLeavesNoDestination) {
  std::string dir = WorkDir("ext4");
  ASSERT_FALSE(dir.empty());
  MakeFile(dir + "/source.img", 8 * kMiB, {{0, kMiB}});
  Status status = host_.Reflink(dir + "/source.img", dir + "/clone.img");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("sparse copy"));
  EXPECT_EQ(host_.Stat(dir + "/clone.img").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Reflink(dir + "/none.img", dir + "/clone.img").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostTest, ReflinkAcrossFilesystemsIsUnimplemented) {
  std::string xfs = WorkDir("xfs");
  std::string ext4 = WorkDir("ext4");
  ASSERT_FALSE(xfs.empty() || ext4.empty());
  MakeFile(xfs + "/source.img", kMiB, {{0, 4096}});
  EXPECT_EQ(host_.Reflink(xfs + "/source.img", ext4 + "/clone.img").code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(host_.Stat(ext4 + "/clone.img").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostTest, SparseCopyOnExt4KeepsHolesAndContent) {
  std::string dir = WorkDir("ext4");
  ASSERT_FALSE(dir.empty());
  const std::string source = dir + "/source.img";
  const std::string copy = dir + "/copy.img";
  MakeFile(source, 256 * kMiB, {{kMiB, 3 * kMiB}, {100 * kMiB, kMiB}, {255 * kMiB, kMiB}});
  ASSERT_TRUE(host_.SparseCopy(source, copy).ok());
  StatusOr<FileInfo> from = host_.Stat(source);
  StatusOr<FileInfo> to = host_.Stat(copy);
  ASSERT_TRUE(from.ok() && to.ok());
  EXPECT_EQ(to->size, from->size);
  EXPECT_EQ(Hash(copy), Hash(source));
  // Holes stay holes: the copy allocates what the source does (5 MiB of
  // data), not its 256 MiB size.
  EXPECT_GE(to->allocated_bytes, 5 * kMiB);
  EXPECT_LE(to->allocated_bytes, from->allocated_bytes + kMiB);
  for (const Extent& extent : OkValue(host_.Extents(copy))) EXPECT_FALSE(extent.shared);
  EXPECT_EQ(host_.SparseCopy(source, copy).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(LinuxHostTest, SparseCopyAcrossFilesystemsKeepsContent) {
  std::string xfs = WorkDir("xfs");
  std::string ext4 = WorkDir("ext4");
  ASSERT_FALSE(xfs.empty() || ext4.empty());
  MakeFile(xfs + "/source.img", 32 * kMiB, {{0, kMiB}, {20 * kMiB, 2 * kMiB}});
  ASSERT_TRUE(host_.SparseCopy(xfs + "/source.img", ext4 + "/copy.img").ok());
  EXPECT_EQ(Hash(ext4 + "/copy.img"), Hash(xfs + "/source.img"));
  EXPECT_LE(host_.Stat(ext4 + "/copy.img")->allocated_bytes, 4 * kMiB);
}

TEST_F(LinuxHostTest, ExtentsListDataRangesOfASparseFile) {
  std::string dir = WorkDir("ext4");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/sparse.img";
  MakeFile(path, 64 * kMiB, {{0, kMiB}, {40 * kMiB, kMiB}});
  StatusOr<std::vector<Extent>> extents = host_.Extents(path);
  ASSERT_TRUE(extents.ok()) << extents.status();
  ASSERT_FALSE(extents->empty());
  EXPECT_EQ(extents->front().logical, 0u);
  EXPECT_EQ(extents->back().logical + extents->back().length, 41 * kMiB);
  uint64_t mapped = 0;
  for (const Extent& extent : *extents) mapped += extent.length;
  EXPECT_EQ(mapped, 2 * kMiB);
  EXPECT_TRUE(host_.Extents(dir + "/none").status().code() == absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostTest, PunchHoleUnmapsTheRangeAndKeepsTheSize) {
  std::string dir = WorkDir("ext4");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/punched.img";
  MakeFile(path, 8 * kMiB, {{0, 4 * kMiB}});
  ASSERT_TRUE(host_.PunchHole(path, kMiB, 2 * kMiB).ok());
  EXPECT_EQ(host_.Stat(path)->size, 8 * kMiB);
  StatusOr<std::vector<Extent>> extents = host_.Extents(path);
  ASSERT_TRUE(extents.ok()) << extents.status();
  uint64_t mapped = 0;
  for (const Extent& extent : *extents) {
    mapped += extent.length;
    EXPECT_TRUE(extent.logical + extent.length <= kMiB || extent.logical >= 3 * kMiB)
        << "mapped at " << extent.logical;
  }
  EXPECT_EQ(mapped, 2 * kMiB);
  EXPECT_EQ(*host_.ReadAt(path, kMiB, 2 * kMiB), std::string(2 * kMiB, '\0'));
  EXPECT_EQ(host_.PunchHole(dir + "/none", 0, kMiB).code(), absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostTest, ExtentsOfAFragmentedFileSpanSeveralBatches) {
  std::string dir = WorkDir("xfs");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/fragmented.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 2048 * 8192).ok());
  // 600 separate 4 KiB islands: more than one FIEMAP batch of 256.
  for (uint64_t i = 0; i < 600; ++i) {
    ASSERT_TRUE(host_.WriteAt(path, i * 8192, std::string(4096, 'x')).ok());
  }
  StatusOr<std::vector<Extent>> extents = host_.Extents(path);
  ASSERT_TRUE(extents.ok());
  EXPECT_EQ(extents->size(), 600u);
  EXPECT_EQ(extents->back().logical, 599u * 8192);
}

TEST_F(LinuxHostTest, FreezeAndThaw) {
  std::string dir = WorkDir("xfs");
  ASSERT_FALSE(dir.empty());
  const std::string mount_point = xfs_->mount_point();
  ASSERT_TRUE(host_.Freeze(mount_point).ok());
  Status again = host_.Freeze(mount_point);
  Status thawed = host_.Thaw(mount_point);  // before any assertion can return
  EXPECT_EQ(again.code(), absl::StatusCode::kUnavailable) << again;
  ASSERT_TRUE(thawed.ok()) << thawed;
  EXPECT_EQ(host_.Thaw(mount_point).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(host_.WriteAt(dir + "/../after-thaw", 0, "").code() == absl::StatusCode::kNotFound);
  EXPECT_TRUE(host_.Touch(dir + "/after-thaw").ok());
  EXPECT_EQ(host_.Freeze(dir + "/none").code(), absl::StatusCode::kNotFound);
}

TEST_F(LinuxHostTest, LoopDeviceLifecycle) {
  test::TempDir temp;
  const std::string image = temp.Join("disk.img");
  ASSERT_TRUE(host_.CreateSparseFile(image, 64 * kMiB).ok());
  StatusOr<std::string> device = host_.AttachLoop(image, /*direct_io=*/true, /*read_only=*/false);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_THAT(*device, StartsWith("/dev/loop"));
  EXPECT_TRUE(host_.Stat(*device)->is_block_device);

  StatusOr<std::vector<LoopDevice>> loops = host_.ListLoops();
  ASSERT_TRUE(loops.ok()) << loops.status();
  auto ours = std::find_if(loops->begin(), loops->end(),
                           [&](const LoopDevice& loop) { return loop.device == *device; });
  ASSERT_NE(ours, loops->end());
  EXPECT_EQ(ours->backing_file, image);

  EXPECT_EQ(*host_.BlockDeviceSize(*device), 64 * kMiB);
  ASSERT_TRUE(host_.Resize(image, 96 * kMiB).ok());
  ASSERT_TRUE(host_.RefreshLoopCapacity(*device).ok());
  EXPECT_EQ(*host_.BlockDeviceSize(*device), 96 * kMiB);

  // Data written through the device lands in the image.
  ASSERT_TRUE(host_.WriteAt(*device, kMiB, "through the loop").ok());
  EXPECT_EQ(*host_.ReadAt(image, kMiB, 16), "through the loop");

  ASSERT_TRUE(host_.DetachLoop(*device).ok());
  loops = host_.ListLoops();
  ASSERT_TRUE(loops.ok());
  for (const LoopDevice& loop : *loops) EXPECT_NE(loop.backing_file, image);
}

TEST_F(LinuxHostTest, ReadOnlyLoopDevice) {
  test::TempDir temp;
  const std::string image = temp.Join("ro.img");
  ASSERT_TRUE(host_.CreateSparseFile(image, 8 * kMiB).ok());
  StatusOr<std::string> device = host_.AttachLoop(image, /*direct_io=*/false, /*read_only=*/true);
  ASSERT_TRUE(device.ok()) << device.status();
  std::string name = device->substr(device->find_last_of('/') + 1);
  EXPECT_EQ(*host_.ReadFile("/sys/block/" + name + "/ro"), "1\n");
  EXPECT_FALSE(host_.WriteAt(*device, 0, "x").ok());
  EXPECT_TRUE(host_.DetachLoop(*device).ok());
}

TEST_F(LinuxHostTest, MountsBindReadOnlyAndUnmount) {
  std::string dir = WorkDir("xfs");
  ASSERT_FALSE(dir.empty());
  test::TempDir temp;
  const std::string target = temp.Join("bind target");  // a space, escaped in mountinfo
  const std::string read_only = temp.Join("ro");
  ASSERT_TRUE(host_.MakeDirectories(target, 0755).ok());
  ASSERT_TRUE(host_.MakeDirectories(read_only, 0755).ok());

  ASSERT_TRUE(host_.Mount(dir, target, "", Options(true, false)).ok());
  StatusOr<std::vector<MountEntry>> mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  auto entry = std::find_if(mounts->begin(), mounts->end(),
                            [&](const MountEntry& m) { return m.target == target; });
  ASSERT_NE(entry, mounts->end());
  EXPECT_EQ(entry->fs_type, "xfs");
  EXPECT_EQ(entry->source, xfs_->device());
  EXPECT_EQ(entry->root,
            "/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  EXPECT_THAT(entry->options, StartsWith("rw"));
  ASSERT_TRUE(host_.Touch(target + "/through-bind").ok());
  EXPECT_TRUE(host_.Stat(dir + "/through-bind").ok());

  ASSERT_TRUE(host_.Mount(dir, read_only, "", Options(true, true)).ok());
  mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  entry = std::find_if(mounts->begin(), mounts->end(),
                       [&](const MountEntry& m) { return m.target == read_only; });
  ASSERT_NE(entry, mounts->end());
  EXPECT_THAT(entry->options, StartsWith("ro"));
  EXPECT_TRUE(host_.Stat(read_only + "/through-bind").ok());
  EXPECT_EQ(host_.Touch(read_only + "/refused").code(), absl::StatusCode::kFailedPrecondition);
  // Remount the read-only bind read-write.
  ASSERT_TRUE(host_.Mount("", read_only, "", Options(true, false, true)).ok());
  EXPECT_TRUE(host_.Touch(read_only + "/allowed").ok());

  ASSERT_TRUE(host_.Unmount(target).ok());
  ASSERT_TRUE(host_.Unmount(read_only).ok());
  EXPECT_EQ(host_.Unmount(target).code(), absl::StatusCode::kNotFound);
  mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  for (const MountEntry& m : *mounts) EXPECT_NE(m.target, target);
}

TEST_F(LinuxHostTest, MountsALoopDeviceWithData) {
  test::TempDir temp;
  const std::string image = temp.Join("fs.img");
  ASSERT_TRUE(host_.CreateSparseFile(image, 64 * kMiB).ok());
  StatusOr<CommandResult> mkfs = host_.Run({"mkfs.ext4", "-q", "-F", image});
  ASSERT_TRUE(mkfs.ok());
  ASSERT_EQ(mkfs->exit_code, 0) << mkfs->stderr_text;
  StatusOr<std::string> device = host_.AttachLoop(image, false, false);
  ASSERT_TRUE(device.ok()) << device.status();
  const std::string mnt = temp.Join("mnt");
  ASSERT_TRUE(host_.MakeDirectories(mnt, 0755).ok());
  ASSERT_TRUE(host_.Mount(*device, mnt, "ext4", Options(false, true, false, "noload")).ok());
  StatusOr<std::vector<MountEntry>> mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  auto entry = std::find_if(mounts->begin(), mounts->end(),
                            [&](const MountEntry& m) { return m.target == mnt; });
  ASSERT_NE(entry, mounts->end());
  EXPECT_EQ(entry->source, *device);
  EXPECT_EQ(entry->fs_type, "ext4");
  EXPECT_THAT(entry->options, StartsWith("ro"));
  EXPECT_EQ(host_.Mount(*device, temp.Join("none"), "ext4", {}).code(),
            absl::StatusCode::kNotFound);
  // The TempDir unmounts and detaches on destruction; do it explicitly here.
  EXPECT_TRUE(host_.Unmount(mnt).ok());
  EXPECT_TRUE(host_.DetachLoop(*device).ok());
}

TEST_F(LinuxHostTest, TempDirCleansUpMountsAndLoopsLeftBehind) {
  std::string path;
  std::string device;
  {
    test::TempDir temp;
    path = temp.path();
    ASSERT_TRUE(host_.CreateSparseFile(temp.Join("x.img"), 8 * kMiB).ok());
    StatusOr<std::string> attached = host_.AttachLoop(temp.Join("x.img"), false, false);
    ASSERT_TRUE(attached.ok());
    device = *attached;
    ASSERT_TRUE(host_.MakeDirectories(temp.Join("a/b"), 0755).ok());
    ASSERT_TRUE(host_.Mount("tmpfs", temp.Join("a"), "tmpfs", {}).ok());
    ASSERT_TRUE(host_.MakeDirectories(temp.Join("a/b"), 0755).ok());
    ASSERT_TRUE(host_.Mount(temp.path(), temp.Join("a/b"), "", Options(true, false)).ok());
  }
  EXPECT_EQ(host_.Stat(path).status().code(), absl::StatusCode::kNotFound);
  for (const MountEntry& m : OkValue(host_.ListMounts()))
    EXPECT_THAT(m.target, ::testing::Not(StartsWith(path)));
  for (const LoopDevice& loop : OkValue(host_.ListLoops())) {
    EXPECT_THAT(loop.backing_file, ::testing::Not(StartsWith(path)));
  }
}

}  // namespace
}  // namespace ditto::host
