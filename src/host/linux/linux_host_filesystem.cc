// LinuxHost: a filesystem as a whole: statfs(2), and freezing it (FIFREEZE,
// FITHAW) so a snapshot of several volumes is consistent.
#include "host/linux_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>

#include <string>

#include "fmt/format.h"
#include "host/linux/linux_fd.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {
using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;

std::string FilesystemName(uint64_t magic) {
  switch (magic) {
    case XFS_SUPER_MAGIC:
      return "xfs";
    case EXT4_SUPER_MAGIC:  // ext2/3/4 share one magic
      return "ext4";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case TMPFS_MAGIC:
      return "tmpfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlay";
    default:
      return fmt::format("0x{:x}", magic);
  }
}

}  // namespace

StatusOr<FilesystemInfo> LinuxHost::StatFilesystem(const std::string& path) {
  struct statfs fs;
  if (::statfs(path.c_str(), &fs) != 0) return PosixError(fmt::format("statfs {}", path), errno);
  uint64_t block = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  FilesystemInfo info;
  info.type = FilesystemName(static_cast<uint64_t>(static_cast<uint32_t>(fs.f_type)));
  info.capacity_bytes = fs.f_blocks * block;
  info.free_bytes = fs.f_bfree * block;
  info.available_bytes = fs.f_bavail * block;
  info.total_inodes = fs.f_files;
  info.free_inodes = fs.f_ffree;
  return info;
}

Status LinuxHost::Freeze(const std::string& mount_point) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(mount_point, O_RDONLY | O_DIRECTORY));
  if (::ioctl(fd.get(), FIFREEZE, 0) != 0) {
    return PosixError(fmt::format("freeze (FIFREEZE) {}", mount_point), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::Thaw(const std::string& mount_point) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(mount_point, O_RDONLY | O_DIRECTORY));
  if (::ioctl(fd.get(), FITHAW, 0) != 0) {
    return PosixError(fmt::format("thaw (FITHAW) {}", mount_point), errno);
  }
  return absl::OkStatus();
}

}  // namespace ditto::host
