// A pool made with a whole device (--device), on a real loop device used as
// a disk, as root, for both backends: Init formats it and mounts it; after the
// device is detached and attached again (under another name, as after a
// reboot) Open finds it by its filesystem UUID and every volume reads back;
// a disk that already holds a filesystem is refused and left as it was.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "fmt/format.h"
#include "host/linux_host.h"
#include "pool/pool.h"
#include "support/require_root.h"
#include "support/sha256.h"
#include "support/temp_dir.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kDiskBytes = 1024 * kMiB;

class DeviceOnLoop : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    DITTO_REQUIRE_ROOT();
    dir_ = temp_.Join("pool");
  }
  void TearDown() override {
    pool_.reset();
    // Mounts first (the pool's data directory is below the temp directory),
    // then the disks' loop devices, failures included.
    test::ReleaseMountsAndLoops(temp_.path());
    for (const auto& device : disks_) (void)host_.DetachLoop(device);
  }
  // A sparse file of `bytes` attached as a loop device: a disk.
  std::string NewDisk(const std::string& name, uint64_t bytes) {
    const std::string file = temp_.Join(name);
    EXPECT_TRUE(host_.CreateSparseFile(file, bytes).ok());
    return Attach(file);
  }
  std::string Attach(const std::string& file) {
    auto device = host_.AttachLoop(file, /*direct_io=*/false, /*read_only=*/false);
    EXPECT_TRUE(device.ok()) << device.status();
    if (!device.ok()) return "";
    disks_.push_back(*device);
    return *device;
  }
  void Detach(const std::string& device) {
    EXPECT_TRUE(host_.DetachLoop(device).ok());
    std::erase(disks_, device);
  }
  BackendChoice backend() const {
    return GetParam() == "btrfs" ? BackendChoice::kBtrfs : BackendChoice::kXfs;
  }

  test::TempDir temp_{"ditto-device-pool"};
  host::LinuxHost host_;
  std::string dir_;
  std::vector<std::string> disks_;
  std::unique_ptr<Pool> pool_;
};

TEST_P(DeviceOnLoop, FormattedFoundAgainByUuidAfterReattachAndAFullDiskRefused) {
  const std::string disk = NewDisk("disk.img", kDiskBytes);
  ASSERT_FALSE(disk.empty());
  auto pool = Pool::Init(host_, dir_, {.backend = backend(), .device = disk});
  ASSERT_TRUE(pool.ok()) << pool.status();
  pool_ = std::move(*pool);
  EXPECT_FALSE(pool_->layout().backing_file);
  EXPECT_FALSE(pool_->layout().device_uuid.empty());
  auto fs = host_.StatFilesystem(pool_->layout().data_dir);
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_EQ(fs->type, GetParam()) << "the device was not formatted for the backend";

  auto volume = pool_->CreateVolume({.name = "v", .capacity_bytes = 16 * kMiB});
  ASSERT_TRUE(volume.ok()) << volume.status();
  const std::string data = fmt::format("{:-<65536}", "written to the device-backed pool");
  ASSERT_TRUE(host_.WriteAt(pool_->VolumePath(volume->volume.id), 4096, data).ok());
  ASSERT_TRUE(host_.SyncFile(pool_->VolumePath(volume->volume.id)).ok());
  auto clone = pool_->CreateVolume({.name = "c", .source_kind = SourceKind::kVolume,
                                    .source_id = volume->volume.id});
  ASSERT_TRUE(clone.ok()) << clone.status();
  const std::string data_dir = pool_->layout().data_dir;

  // A reboot: the pool closed, its filesystem unmounted, the disk detached
  // and attached again behind another device (a spare loop device takes the
  // old number first).
  pool_.reset();
  ASSERT_TRUE(host_.Unmount(data_dir).ok());
  Detach(disk);
  // Spare disks take free loop numbers (other processes attach and detach
  // too) until the disk comes back under another name.
  std::string again;
  for (int attempt = 0; attempt < 8; ++attempt) {
    ASSERT_FALSE(NewDisk(fmt::format("spare-{}.img", attempt), 64 * kMiB).empty());
    again = Attach(temp_.Join("disk.img"));
    ASSERT_FALSE(again.empty());
    if (again != disk) break;
    Detach(again);
  }
  ASSERT_NE(again, disk) << "the disk kept its name through 8 reattachments";
  auto reopened = Pool::Open(host_, dir_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  pool_ = std::move(*reopened);
  for (const auto* id : {&volume->volume.id, &clone->volume.id}) {
    auto read = host_.ReadAt(pool_->VolumePath(*id), 4096, data.size());
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, data) << "volume " << *id << " after the device came back as " << again;
  }

  // A disk that holds a filesystem: refused, nothing written to it.
  const std::string used = NewDisk("used.img", 256 * kMiB);
  auto made = host_.Run({"mkfs.ext4", "-q", "-F", used});
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  auto before = test::Sha256File(temp_.Join("used.img"));
  ASSERT_TRUE(before.ok());
  auto refused = Pool::Init(host_, temp_.Join("other"), {.backend = backend(), .device = used});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("ext4"), std::string::npos) << refused.status();
  auto after = test::Sha256File(temp_.Join("used.img"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before) << "a refused disk was written to";
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceOnLoop, testing::Values("btrfs", "xfs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ditto::pool
