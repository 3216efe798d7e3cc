// A real filesystem for root tests: a sparse image in a TempDir, formatted
// with mkfs, attached to a loop device and mounted at <tempdir>/mnt.
//
//   DITTO_REQUIRE_ROOT();
//   auto fs = LoopFilesystem::Create("xfs", 512 << 20);
//   ASSERT_TRUE(fs.ok()) << fs.status();
//   std::string dir = (*fs)->mount_point();
//
// Destruction (or Cleanup()) thaws, unmounts (lazily as a last resort),
// detaches the loop device and removes the directory, also when the test
// failed midway. Needs root and mkfs.xfs / mkfs.ext4 / mkfs.btrfs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "support/temp_dir.h"

namespace ditto::test {

class LoopFilesystem {
 public:
  // XFS needs at least 300 MiB (xfsprogs 6), btrfs about 128 MiB.
  static constexpr uint64_t kDefaultSize = uint64_t{512} << 20;

  // `fs_type`: "xfs" (made with -m reflink=1), "ext4" or "btrfs".
  static StatusOr<std::unique_ptr<LoopFilesystem>> Create(std::string fs_type,
                                                          uint64_t size_bytes = kDefaultSize);
  ~LoopFilesystem();
  LoopFilesystem(const LoopFilesystem&) = delete;
  LoopFilesystem& operator=(const LoopFilesystem&) = delete;

  const std::string& fs_type() const { return fs_type_; }
  // Where the filesystem is mounted: <temp dir>/mnt.
  const std::string& mount_point() const { return mount_point_; }
  // The loop device ("/dev/loopN") and its backing image file.
  const std::string& device() const { return device_; }
  const std::string& image() const { return image_; }
  // The temporary directory holding the image and the mount point.
  const std::string& root() const { return dir_.path(); }

  // Unmounts, detaches and removes; idempotent.
  void Cleanup();

 private:
  explicit LoopFilesystem(std::string fs_type);

  std::string fs_type_;
  TempDir dir_;
  std::string image_;
  std::string mount_point_;
  std::string device_;
};

}  // namespace ditto::test
