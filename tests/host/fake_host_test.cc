#include "host/fake_host.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ditto::host {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kBlock = FakeHost::kBlockSize;

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

std::string Bytes(char c, size_t n) { return std::string(n, c); }

class FakeHostTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(host_.MakeDirectories("/pool/volumes", 0755).ok()); }

  uint64_t Allocated(const std::string& path) {
    StatusOr<FileInfo> info = host_.Stat(path);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->allocated_bytes : 0;
  }

  FakeHost host_;
};

TEST_F(FakeHostTest, DirectoriesAndListing) {
  ASSERT_TRUE(host_.MakeDirectories("/pool/volumes", 0755).ok());  // idempotent
  ASSERT_TRUE(host_.MakeDirectories("/pool/snapshots/", 0700).ok());
  ASSERT_TRUE(host_.Touch("/pool/marker").ok());
  EXPECT_THAT(*host_.ListDirectory("/pool"), ElementsAre("marker", "snapshots", "volumes"));
  EXPECT_THAT(*host_.ListDirectory("/pool/volumes"), IsEmpty());
  StatusOr<FileInfo> dir = host_.Stat("/pool/snapshots");
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(dir->is_directory);
  EXPECT_EQ(dir->mode, 0700u);
  EXPECT_EQ(host_.MakeDirectories("/pool/marker/x", 0755).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(host_.ListDirectory("/pool/marker").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(host_.Stat("/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Stat("relative").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*host_.RealPath("/pool/./volumes/../marker"), "/pool/marker");
  EXPECT_EQ(host_.RealPath("/pool/nothing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, CreatingNeedsAnExistingParent) {
  EXPECT_EQ(host_.CreateSparseFile("/nowhere/a.img", 10).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Touch("/nowhere/a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.WriteFileAtomically("/nowhere/a", "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, RemoveAndRename) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/volumes/a.img", 10).ok());
  EXPECT_EQ(host_.Remove("/pool/volumes").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(host_.Rename("/pool/volumes", "/pool/moved").ok());
  EXPECT_TRUE(host_.Stat("/pool/moved/a.img").ok());
  EXPECT_EQ(host_.Stat("/pool/volumes/a.img").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(host_.Remove("/pool/moved/a.img").ok());
  EXPECT_EQ(host_.Remove("/pool/moved/a.img").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(host_.Remove("/pool/moved").ok());
  EXPECT_THAT(*host_.ListDirectory("/pool"), IsEmpty());
}

TEST_F(FakeHostTest, RenameReplacesAFile) {
  ASSERT_TRUE(host_.WriteFileAtomically("/pool/a", "new").ok());
  ASSERT_TRUE(host_.WriteFileAtomically("/pool/b", "old").ok());
  ASSERT_TRUE(host_.Rename("/pool/a", "/pool/b").ok());
  EXPECT_EQ(*host_.ReadFile("/pool/b"), "new");
  EXPECT_EQ(host_.Stat("/pool/a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Rename("/pool/b", "/pool/volumes").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FakeHostTest, SparseFilesReadZerosInHoles) {
  const std::string path = "/pool/volumes/v.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 1 << 20).ok());
  EXPECT_EQ(host_.CreateSparseFile(path, 1).code(), absl::StatusCode::kAlreadyExists);
  StatusOr<FileInfo> info = host_.Stat(path);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->is_regular);
  EXPECT_EQ(info->size, 1u << 20);
  EXPECT_EQ(info->allocated_bytes, 0u);

  // A write straddling two blocks allocates exactly those two.
  ASSERT_TRUE(host_.WriteAt(path, kBlock - 2, "abcd").ok());
  EXPECT_EQ(Allocated(path), 2 * kBlock);
  EXPECT_EQ(*host_.ReadAt(path, kBlock - 4, 8),
            std::string("\0\0ab", 4) + std::string("cd\0\0", 4));
  EXPECT_EQ(*host_.ReadAt(path, 100 * kBlock, 4), Bytes('\0', 4));
  // Reads stop at the end of the file.
  EXPECT_EQ(host_.ReadAt(path, (1 << 20) - 2, 100)->size(), 2u);
  EXPECT_EQ(host_.ReadAt(path, 2 << 20, 100)->size(), 0u);
  // Writes past the end grow the file.
  ASSERT_TRUE(host_.WriteAt(path, 2 << 20, "z").ok());
  EXPECT_EQ(host_.Stat(path)->size, (2u << 20) + 1);
  EXPECT_EQ(host_.WriteAt("/pool/volumes/none.img", 0, "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, ExtentsAreContiguousRunsOfBlocks) {
  const std::string path = "/pool/volumes/v.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 64 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt(path, 0, Bytes('a', 2 * kBlock)).ok());
  ASSERT_TRUE(host_.WriteAt(path, 10 * kBlock, Bytes('b', 3 * kBlock)).ok());
  StatusOr<std::vector<Extent>> extents = host_.Extents(path);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->size(), 2u);
  EXPECT_EQ((*extents)[0].logical, 0u);
  EXPECT_EQ((*extents)[0].length, 2 * kBlock);
  EXPECT_EQ((*extents)[1].logical, 10 * kBlock);
  EXPECT_EQ((*extents)[1].length, 3 * kBlock);
  EXPECT_FALSE((*extents)[0].shared);
  EXPECT_FALSE((*extents)[1].shared);
}

TEST_F(FakeHostTest, ReflinkSharesBlocksUntilWritten) {
  const std::string source = "/pool/volumes/src.img";
  const std::string clone = "/pool/volumes/clone.img";
  ASSERT_TRUE(host_.CreateSparseFile(source, 16 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt(source, 0, Bytes('s', 4 * kBlock)).ok());
  uint64_t used = host_.used_bytes();
  EXPECT_EQ(used, 4 * kBlock);

  ASSERT_TRUE(host_.Reflink(source, clone).ok());
  EXPECT_EQ(host_.used_bytes(), used);  // a clone costs no blocks
  EXPECT_EQ(host_.Stat(clone)->size, 16 * kBlock);
  EXPECT_EQ(*host_.ReadFile(clone), *host_.ReadFile(source));
  for (const Extent& extent : OkValue(host_.Extents(clone))) EXPECT_TRUE(extent.shared);
  for (const Extent& extent : OkValue(host_.Extents(source))) EXPECT_TRUE(extent.shared);
  EXPECT_EQ(host_.Reflink(source, clone).code(), absl::StatusCode::kAlreadyExists);

  // Writing the clone copies one block; the source keeps its data.
  ASSERT_TRUE(host_.WriteAt(clone, kBlock, "C").ok());
  EXPECT_EQ(host_.used_bytes(), used + kBlock);
  EXPECT_EQ(*host_.ReadAt(source, kBlock, 1), "s");
  EXPECT_EQ(*host_.ReadAt(clone, kBlock, 1), "C");
  StatusOr<std::vector<Extent>> extents = host_.Extents(clone);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->size(), 3u);
  EXPECT_TRUE((*extents)[0].shared);
  EXPECT_FALSE((*extents)[1].shared);
  EXPECT_EQ((*extents)[1].logical, kBlock);
  EXPECT_TRUE((*extents)[2].shared);

  // Deleting the source leaves the clone intact and its blocks exclusive.
  ASSERT_TRUE(host_.Remove(source).ok());
  EXPECT_EQ(*host_.ReadAt(clone, 0, 1), "s");
  for (const Extent& extent : OkValue(host_.Extents(clone))) EXPECT_FALSE(extent.shared);
  EXPECT_EQ(host_.used_bytes(), 4 * kBlock);
}

TEST_F(FakeHostTest, ReflinkUnsupportedIsUnimplemented) {
  host_.set_reflink_supported(false);
  ASSERT_TRUE(host_.CreateSparseFile("/pool/volumes/a.img", kBlock).ok());
  EXPECT_EQ(host_.Reflink("/pool/volumes/a.img", "/pool/volumes/b.img").code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(host_.Stat("/pool/volumes/b.img").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Reflink("/pool/volumes/none.img", "/pool/volumes/c.img").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, SparseCopyKeepsHolesAndOwnsItsBlocks) {
  const std::string source = "/pool/volumes/src.img";
  const std::string copy = "/pool/volumes/copy.img";
  ASSERT_TRUE(host_.CreateSparseFile(source, 100 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt(source, 50 * kBlock, "data").ok());
  ASSERT_TRUE(host_.SparseCopy(source, copy).ok());
  EXPECT_EQ(host_.Stat(copy)->size, 100 * kBlock);
  EXPECT_EQ(Allocated(copy), kBlock);
  EXPECT_EQ(*host_.ReadFile(copy), *host_.ReadFile(source));
  for (const Extent& extent : OkValue(host_.Extents(copy))) EXPECT_FALSE(extent.shared);
  EXPECT_EQ(host_.used_bytes(), 2 * kBlock);
  EXPECT_EQ(host_.SparseCopy(source, copy).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(FakeHostTest, CapacityLimitsWritesAndIsReported) {
  host_.set_capacity(4 * kBlock);
  host_.set_filesystem_type("ext4");
  const std::string path = "/pool/volumes/v.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 1 << 30).ok());  // thin: no blocks yet
  ASSERT_TRUE(host_.WriteAt(path, 0, Bytes('x', 3 * kBlock)).ok());
  StatusOr<FilesystemInfo> fs = host_.StatFilesystem("/pool");
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(fs->type, "ext4");
  EXPECT_EQ(fs->capacity_bytes, 4 * kBlock);
  EXPECT_EQ(fs->free_bytes, kBlock);
  EXPECT_EQ(fs->available_bytes, kBlock);

  EXPECT_EQ(host_.WriteAt(path, 10 * kBlock, Bytes('y', 2 * kBlock)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*host_.ReadAt(path, 10 * kBlock, 1), std::string(1, '\0'));  // nothing written
  ASSERT_TRUE(host_.WriteAt(path, 0, "overwrite needs no new block").ok());
  EXPECT_EQ(host_.Allocate(path, 8 * kBlock, 2 * kBlock).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(host_.SparseCopy(path, "/pool/volumes/copy.img").code(),
            absl::StatusCode::kResourceExhausted);
  // A reflink needs no space even when the filesystem is almost full.
  EXPECT_TRUE(host_.Reflink(path, "/pool/volumes/clone.img").ok());
  EXPECT_EQ(host_.WriteAt("/pool/volumes/clone.img", 0, Bytes('z', 2 * kBlock)).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(FakeHostTest, AllocateReservesZeroedBlocksAndGrows) {
  const std::string path = "/pool/volumes/thick.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 0).ok());
  ASSERT_TRUE(host_.Allocate(path, 0, 8 * kBlock).ok());
  EXPECT_EQ(host_.Stat(path)->size, 8 * kBlock);
  EXPECT_EQ(Allocated(path), 8 * kBlock);
  EXPECT_EQ(*host_.ReadAt(path, 0, 16), Bytes('\0', 16));
  EXPECT_EQ(host_.Extents(path)->size(), 1u);
}

TEST_F(FakeHostTest, PunchHoleFreesWholeBlocksZeroesPartOnesAndKeepsTheClone) {
  const std::string path = "/pool/volumes/v.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 4 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt(path, 0, Bytes('a', 4 * kBlock)).ok());
  ASSERT_TRUE(host_.Reflink(path, "/pool/volumes/clone.img").ok());
  // Half of block 0, all of blocks 1 and 2.
  ASSERT_TRUE(host_.PunchHole(path, kBlock / 2, kBlock / 2 + 2 * kBlock).ok());
  EXPECT_EQ(host_.Stat(path)->size, 4 * kBlock);
  EXPECT_EQ(Allocated(path), 2 * kBlock);
  EXPECT_EQ(*host_.ReadAt(path, 0, 4 * kBlock),
            Bytes('a', kBlock / 2) + Bytes('\0', kBlock / 2 + 2 * kBlock) + Bytes('a', kBlock));
  EXPECT_EQ(*host_.ReadAt("/pool/volumes/clone.img", 0, 4 * kBlock), Bytes('a', 4 * kBlock));
  EXPECT_EQ(host_.PunchHole(path, 0, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_.PunchHole("/pool/volumes/none.img", 0, kBlock).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, ResizeDropsAndZeroesTheTail) {
  const std::string path = "/pool/volumes/v.img";
  ASSERT_TRUE(host_.CreateSparseFile(path, 4 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt(path, 0, Bytes('a', 4 * kBlock)).ok());
  ASSERT_TRUE(host_.Resize(path, kBlock + 10).ok());
  EXPECT_EQ(Allocated(path), 2 * kBlock);
  ASSERT_TRUE(host_.Resize(path, 4 * kBlock).ok());
  EXPECT_EQ(*host_.ReadAt(path, kBlock + 8, 4), std::string("aa\0\0", 4));
  EXPECT_EQ(*host_.ReadAt(path, 3 * kBlock, 1), std::string(1, '\0'));
}

TEST_F(FakeHostTest, ResizeOfASharedTailDoesNotChangeTheClone) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/a", kBlock).ok());
  ASSERT_TRUE(host_.WriteAt("/pool/a", 0, Bytes('a', kBlock)).ok());
  ASSERT_TRUE(host_.Reflink("/pool/a", "/pool/b").ok());
  ASSERT_TRUE(host_.Resize("/pool/a", 10).ok());
  EXPECT_EQ(*host_.ReadFile("/pool/b"), Bytes('a', kBlock));
}

TEST_F(FakeHostTest, WriteFileAtomicallyReplacesContentsAndKeepsMode) {
  ASSERT_TRUE(host_.WriteFileAtomically("/pool/config", "one").ok());
  EXPECT_EQ(host_.Stat("/pool/config")->mode, 0600u);
  ASSERT_TRUE(host_.SetMode("/pool/config", 0644).ok());
  ASSERT_TRUE(host_.WriteFileAtomically("/pool/config", "two!").ok());
  EXPECT_EQ(*host_.ReadFile("/pool/config"), "two!");
  EXPECT_EQ(host_.Stat("/pool/config")->mode, 0644u);
  EXPECT_EQ(host_.Stat("/pool/config")->size, 4u);
  EXPECT_EQ(host_.ReadFile("/pool/volumes").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FakeHostTest, SyncChecksExistence) {
  ASSERT_TRUE(host_.Touch("/pool/f").ok());
  EXPECT_TRUE(host_.SyncFile("/pool/f").ok());
  EXPECT_TRUE(host_.SyncDirectory("/pool").ok());
  EXPECT_EQ(host_.SyncFile("/pool/g").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.SyncDirectory("/pool/f").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FakeHostTest, LoopDevicesAreAssignedLowestFirst) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/a.img", 1 << 20).ok());
  ASSERT_TRUE(host_.CreateSparseFile("/pool/b.img", 2 << 20).ok());
  StatusOr<std::string> a = host_.AttachLoop("/pool/a.img", true, false);
  StatusOr<std::string> b = host_.AttachLoop("/pool/b.img", false, true);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, "/dev/loop0");
  EXPECT_EQ(*b, "/dev/loop1");
  EXPECT_TRUE(host_.Stat(*a)->is_block_device);
  EXPECT_EQ(*host_.BlockDeviceSize(*b), 2u << 20);
  EXPECT_TRUE(host_.loop_info(*a)->direct_io);
  EXPECT_TRUE(host_.loop_info(*b)->read_only);
  StatusOr<std::vector<LoopDevice>> loops = host_.ListLoops();
  ASSERT_TRUE(loops.ok());
  ASSERT_EQ(loops->size(), 2u);
  EXPECT_EQ((*loops)[1].device, "/dev/loop1");
  EXPECT_EQ((*loops)[1].backing_file, "/pool/b.img");

  // The device sees a new size only after a refresh.
  ASSERT_TRUE(host_.Resize("/pool/a.img", 3 << 20).ok());
  EXPECT_EQ(*host_.BlockDeviceSize(*a), 1u << 20);
  ASSERT_TRUE(host_.RefreshLoopCapacity(*a).ok());
  EXPECT_EQ(*host_.BlockDeviceSize(*a), 3u << 20);

  ASSERT_TRUE(host_.DetachLoop(*a).ok());
  EXPECT_TRUE(host_.DetachLoop(*a).ok());  // already detached
  EXPECT_EQ(host_.ListLoops()->size(), 1u);
  EXPECT_EQ(*host_.BlockDeviceSize(*a), 0u);
  EXPECT_EQ(host_.RefreshLoopCapacity(*a).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*host_.AttachLoop("/pool/a.img", false, false), "/dev/loop0");
  EXPECT_EQ(host_.AttachLoop("/pool/none.img", false, false).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.DetachLoop("/dev/loop9").code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeHostTest, LoopDeviceIoReachesTheBackingFile) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/a.img", 4 * kBlock).ok());
  StatusOr<std::string> device = host_.AttachLoop("/pool/a.img", false, false);
  ASSERT_TRUE(device.ok());
  ASSERT_TRUE(host_.WriteAt(*device, kBlock, "through").ok());
  EXPECT_EQ(*host_.ReadAt("/pool/a.img", kBlock, 7), "through");
  EXPECT_EQ(*host_.ReadAt(*device, kBlock, 7), "through");
  EXPECT_EQ(host_.ReadAt(*device, 3 * kBlock, 2 * kBlock)->size(), kBlock);
  EXPECT_EQ(host_.WriteAt(*device, 4 * kBlock, "x").code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(host_.DetachLoop(*device).ok());
  EXPECT_EQ(host_.WriteAt(*device, 0, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*host_.ReadAt(*device, 0, 10), "");
  StatusOr<std::string> read_only = host_.AttachLoop("/pool/a.img", false, true);
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(host_.WriteAt(*read_only, 0, "x").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(FakeHostTest, MountsAreRecorded) {
  ASSERT_TRUE(host_.MakeDirectories("/mnt/data", 0755).ok());
  ASSERT_TRUE(host_.MakeDirectories("/mnt/bind", 0755).ok());
  ASSERT_TRUE(
      host_.Mount("/dev/loop3", "/mnt/data", "xfs", Options(false, false, false, "nouuid")).ok());
  ASSERT_TRUE(host_.Mount("/mnt/data", "/mnt/bind", "", Options(true, true)).ok());
  StatusOr<std::vector<MountEntry>> mounts = host_.ListMounts();
  ASSERT_TRUE(mounts.ok());
  ASSERT_EQ(mounts->size(), 2u);
  EXPECT_EQ((*mounts)[0].source, "/dev/loop3");
  EXPECT_EQ((*mounts)[0].target, "/mnt/data");
  EXPECT_EQ((*mounts)[0].fs_type, "xfs");
  EXPECT_EQ((*mounts)[0].options, "rw,nouuid");
  EXPECT_EQ((*mounts)[0].device_number, "7:3");
  EXPECT_EQ((*mounts)[1].options, "ro");
  EXPECT_EQ((*mounts)[1].root, "/mnt/data");

  ASSERT_TRUE(host_.Mount("", "/mnt/bind", "", Options(true, false, true)).ok());
  EXPECT_EQ((*host_.ListMounts())[1].options, "rw");
  EXPECT_EQ(host_.Mount("", "/mnt", "", Options(false, false, true)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_.Mount("/dev/loop3", "/mnt/none", "xfs", {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.Mount("/none", "/mnt/bind", "", Options(true, false)).code(),
            absl::StatusCode::kNotFound);

  ASSERT_TRUE(host_.Unmount("/mnt/bind").ok());
  EXPECT_EQ(host_.Unmount("/mnt/bind").code(), absl::StatusCode::kNotFound);
  host_.AddMount(MountEntry{"/dev/vda", "/", "ext4", "rw", "/", "254:0"});
  EXPECT_EQ(host_.ListMounts()->size(), 2u);
}

TEST_F(FakeHostTest, FreezeAndThawAreRecorded) {
  EXPECT_FALSE(host_.frozen("/pool"));
  ASSERT_TRUE(host_.Freeze("/pool").ok());
  EXPECT_TRUE(host_.frozen("/pool/"));
  EXPECT_EQ(host_.Freeze("/pool").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(host_.Thaw("/pool").ok());
  EXPECT_FALSE(host_.frozen("/pool"));
  EXPECT_EQ(host_.Thaw("/pool").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host_.Freeze("/none").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(host_.freeze_count(), 1);
  EXPECT_EQ(host_.thaw_count(), 1);
}

TEST_F(FakeHostTest, RunUsesTheHandlerAndLogsCommands) {
  StatusOr<CommandResult> plain = host_.Run({"blkid", "/dev/loop0"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->exit_code, 0);
  host_.set_run_handler([this](const std::vector<std::string>& argv) -> StatusOr<CommandResult> {
    // The handler may call back into the host, e.g. to make mkfs's effect.
    RETURN_IF_ERROR(host_.Touch("/pool/formatted"));
    return CommandResult{argv[0] == "mkfs.xfs" ? 0 : 1, "out", "err"};
  });
  StatusOr<CommandResult> mkfs = host_.Run({"mkfs.xfs", "-f", "/dev/loop0"});
  ASSERT_TRUE(mkfs.ok());
  EXPECT_EQ(mkfs->exit_code, 0);
  EXPECT_EQ(mkfs->stdout_text, "out");
  EXPECT_EQ(host_.Run({"resize2fs"})->exit_code, 1);
  EXPECT_TRUE(host_.Stat("/pool/formatted").ok());
  EXPECT_EQ(host_.Run({}).status().code(), absl::StatusCode::kInvalidArgument);
  using Argv = std::vector<std::string>;
  EXPECT_THAT(host_.commands(),
              ElementsAre(Argv{"blkid", "/dev/loop0"}, Argv{"mkfs.xfs", "-f", "/dev/loop0"},
                          Argv{"resize2fs"}));
}

TEST_F(FakeHostTest, InjectedErrorsMatchMethodAndPath) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/volumes/a.img", kBlock).ok());
  host_.InjectError("Reflink", "clone", absl::DataLossError("injected"), /*times=*/1);
  host_.InjectError("Run", "mkfs.ext4", absl::InternalError("no mkfs"));
  EXPECT_TRUE(host_.Reflink("/pool/volumes/a.img", "/pool/volumes/b.img").ok());
  EXPECT_EQ(host_.Reflink("/pool/volumes/a.img", "/pool/volumes/clone.img").code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(host_.Stat("/pool/volumes/clone.img").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(host_.Reflink("/pool/volumes/a.img", "/pool/volumes/clone.img").ok());  // once only
  EXPECT_EQ(host_.Run({"mkfs.ext4", "/dev/loop0"}).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(host_.Run({"mkfs.ext4", "/dev/loop1"}).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(host_.Run({"mkfs.xfs", "/dev/loop0"}).ok());
  host_.ClearInjectedErrors();
  EXPECT_TRUE(host_.Run({"mkfs.ext4", "/dev/loop0"}).ok());
  host_.InjectError("Stat", "", absl::UnavailableError("everything"));
  EXPECT_EQ(host_.Stat("/").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(FakeHostTest, ConcurrentWritersToClonesStayConsistent) {
  ASSERT_TRUE(host_.CreateSparseFile("/pool/src", 64 * kBlock).ok());
  ASSERT_TRUE(host_.WriteAt("/pool/src", 0, Bytes('s', 64 * kBlock)).ok());
  constexpr int kThreads = 4;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(host_.Reflink("/pool/src", "/pool/clone" + std::to_string(t)).ok());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      std::string path = "/pool/clone" + std::to_string(t);
      for (uint64_t block = 0; block < 64; ++block) {
        EXPECT_TRUE(host_.WriteAt(path, block * kBlock, std::string(1, 'a' + t)).ok());
        (void)host_.Extents("/pool/src");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(*host_.ReadFile("/pool/src"), Bytes('s', 64 * kBlock));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(*host_.ReadAt("/pool/clone" + std::to_string(t), 63 * kBlock, 2),
              std::string(1, 'a' + t) + "s");
  }
  EXPECT_EQ(host_.used_bytes(), (kThreads + 1) * 64 * kBlock);
}

}  // namespace
}  // namespace ditto::host
