#include "support/loop_filesystem.h"

#include <cstdio>
#include <vector>

#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::test {
namespace {

StatusOr<std::vector<std::string>> MkfsCommand(const std::string& fs_type,
                                               const std::string& image) {
  if (fs_type == "xfs")
    return std::vector<std::string>{"mkfs.xfs", "-q", "-f", "-m", "reflink=1", image};
  if (fs_type == "ext4") return std::vector<std::string>{"mkfs.ext4", "-q", "-F", image};
  if (fs_type == "btrfs") return std::vector<std::string>{"mkfs.btrfs", "-q", "-f", image};
  return absl::InvalidArgumentError(
      fmt::format("LoopFilesystem: unsupported filesystem '{}'; use xfs, ext4 or btrfs", fs_type));
}

}  // namespace

LoopFilesystem::LoopFilesystem(std::string fs_type)
    : fs_type_(std::move(fs_type)), dir_("ditto-loopfs") {}

LoopFilesystem::~LoopFilesystem() { Cleanup(); }

StatusOr<std::unique_ptr<LoopFilesystem>> LoopFilesystem::Create(std::string fs_type,
                                                                 uint64_t size_bytes) {
  host::LinuxHost host;
  // The object exists before any side effect so that its destructor undoes
  // whatever step succeeded when a later one fails.
  std::unique_ptr<LoopFilesystem> fs(new LoopFilesystem(std::move(fs_type)));
  fs->image_ = fs->dir_.Join("fs.img");
  ASSIGN_OR_RETURN(std::vector<std::string> mkfs, MkfsCommand(fs->fs_type_, fs->image_));
  RETURN_IF_ERROR(host.CreateSparseFile(fs->image_, size_bytes));
  ASSIGN_OR_RETURN(host::CommandResult made, host.Run(mkfs));
  if (made.exit_code != 0) {
    return absl::InternalError(
        fmt::format("{} failed with exit code {}: {}", mkfs[0], made.exit_code, made.stderr_text));
  }
  ASSIGN_OR_RETURN(fs->device_, host.AttachLoop(fs->image_, /*direct_io=*/false,
                                                /*read_only=*/false));
  std::string mount_point = fs->dir_.Join("mnt");
  RETURN_IF_ERROR(host.MakeDirectories(mount_point, 0755));
  RETURN_IF_ERROR(host.Mount(fs->device_, mount_point, fs->fs_type_, host::MountOptions{}));
  fs->mount_point_ = mount_point;
  return fs;
}

void LoopFilesystem::Cleanup() {
  host::LinuxHost host;
  if (!mount_point_.empty()) {
    (void)host.Thaw(mount_point_);
    Status status = host.Unmount(mount_point_);
    if (!status.ok() && !absl::IsNotFound(status)) {
      std::fprintf(stderr, "test cleanup: %s; unmounting lazily\n",
                   std::string(status.message()).c_str());
      (void)host.UnmountLazily(mount_point_);
    }
    mount_point_.clear();
  }
  if (!device_.empty()) {
    Status status = host.DetachLoop(device_);
    if (!status.ok()) {
      std::fprintf(stderr, "test cleanup: %s\n", std::string(status.message()).c_str());
    }
    device_.clear();
  }
  // Also catches anything a test mounted below the directory itself.
  dir_.Cleanup();
}

}  // namespace ditto::test
