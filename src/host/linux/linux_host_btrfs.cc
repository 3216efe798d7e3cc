// LinuxHost: btrfs subvolume ioctls, FS_NOCOW_FL and syncfs.
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <string_view>

#include "host/linux/linux_fd.h"
#include "host/linux_host.h"

namespace ditto::host {
namespace {

using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;

// The inode number of every subvolume's root directory.
constexpr uint64_t kSubvolumeRootInode = 256;

struct SplitPath {
  std::string parent;
  std::string name;
};

StatusOr<SplitPath> Split(const std::string& path, std::string_view op) {
  size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == std::string::npos || slash + 1 >= path.size()) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: needs an absolute path naming an entry in a directory", op, path));
  }
  SplitPath split{slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
  if (split.name.size() > BTRFS_SUBVOL_NAME_MAX) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: the name is longer than {} bytes", op, path, BTRFS_SUBVOL_NAME_MAX));
  }
  return split;
}

Status RequireBtrfs(int fd, const std::string& path, std::string_view op) {
  struct statfs fs {};
  if (RetryOnEintr([&] { return ::fstatfs(fd, &fs); }) != 0) {
    return PosixError(fmt::format("{} {}", op, path), errno);
  }
  if (static_cast<uint64_t>(fs.f_type) != BTRFS_SUPER_MAGIC) {
    return absl::UnimplementedError(fmt::format(
        "{} {}: not on a btrfs filesystem; subvolumes need btrfs (use a btrfs pool, or "
        "--backend xfs)",
        op, path));
  }
  return absl::OkStatus();
}

btrfs_ioctl_vol_args_v2 ArgsFor(const std::string& name) {
  btrfs_ioctl_vol_args_v2 args;
  memset(&args, 0, sizeof(args));
  memcpy(args.name, name.data(), name.size());
  return args;
}

}  // namespace

Status LinuxHost::CreateSubvolume(const std::string& path) {
  constexpr std::string_view kOp = "create subvolume (BTRFS_IOC_SUBVOL_CREATE_V2)";
  ASSIGN_OR_RETURN(SplitPath split, Split(path, kOp));
  ASSIGN_OR_RETURN(ScopedFd parent, Open(split.parent, O_RDONLY | O_DIRECTORY));
  RETURN_IF_ERROR(RequireBtrfs(parent.get(), path, kOp));
  btrfs_ioctl_vol_args_v2 args = ArgsFor(split.name);
  if (::ioctl(parent.get(), BTRFS_IOC_SUBVOL_CREATE_V2, &args) != 0) {
    return PosixError(fmt::format("{} {}", kOp, path), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::SnapshotSubvolume(const std::string& source, const std::string& destination,
                                    bool read_only) {
  std::string op = fmt::format("snapshot subvolume (BTRFS_IOC_SNAP_CREATE_V2) {} to", source);
  ASSIGN_OR_RETURN(SplitPath split, Split(destination, op));
  ASSIGN_OR_RETURN(ScopedFd from, Open(source, O_RDONLY | O_DIRECTORY));
  ASSIGN_OR_RETURN(ScopedFd parent, Open(split.parent, O_RDONLY | O_DIRECTORY));
  RETURN_IF_ERROR(RequireBtrfs(parent.get(), destination, op));
  btrfs_ioctl_vol_args_v2 args = ArgsFor(split.name);
  args.fd = from.get();
  if (read_only) args.flags |= BTRFS_SUBVOL_RDONLY;
  if (::ioctl(parent.get(), BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) {
    return PosixError(fmt::format("{} {}", op, destination), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::DeleteSubvolume(const std::string& path) {
  constexpr std::string_view kOp = "delete subvolume (BTRFS_IOC_SNAP_DESTROY_V2)";
  ASSIGN_OR_RETURN(SplitPath split, Split(path, kOp));
  ASSIGN_OR_RETURN(ScopedFd parent, Open(split.parent, O_RDONLY | O_DIRECTORY));
  btrfs_ioctl_vol_args_v2 args = ArgsFor(split.name);
  if (::ioctl(parent.get(), BTRFS_IOC_SNAP_DESTROY_V2, &args) == 0) return absl::OkStatus();
  int err = errno;
  if (err == ENOTTY) {  // kernels before 5.7: the v1 ioctl with a name
    btrfs_ioctl_vol_args v1;
    memset(&v1, 0, sizeof(v1));
    memcpy(v1.name, split.name.data(), std::min(split.name.size(), sizeof(v1.name) - 1));
    if (::ioctl(parent.get(), BTRFS_IOC_SNAP_DESTROY, &v1) == 0) return absl::OkStatus();
    err = errno;
  }
  return PosixError(fmt::format("{} {}", kOp, path), err);
}

Status LinuxHost::MakeSubvolumeReadOnly(const std::string& path) {
  constexpr std::string_view kOp = "make subvolume read-only (BTRFS_IOC_SUBVOL_SETFLAGS)";
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY | O_DIRECTORY));
  uint64_t flags = 0;
  if (::ioctl(fd.get(), BTRFS_IOC_SUBVOL_GETFLAGS, &flags) != 0) {
    return PosixError(fmt::format("{} {}", kOp, path), errno);
  }
  if (flags & BTRFS_SUBVOL_RDONLY) return absl::OkStatus();
  flags |= BTRFS_SUBVOL_RDONLY;
  if (::ioctl(fd.get(), BTRFS_IOC_SUBVOL_SETFLAGS, &flags) != 0) {
    return PosixError(fmt::format("{} {}", kOp, path), errno);
  }
  return absl::OkStatus();
}

StatusOr<bool> LinuxHost::IsSubvolume(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  struct statfs fs {};
  struct stat st {};
  if (::fstatfs(fd.get(), &fs) != 0 || ::fstat(fd.get(), &st) != 0) {
    return PosixError(fmt::format("stat {}", path), errno);
  }
  return static_cast<uint64_t>(fs.f_type) == BTRFS_SUPER_MAGIC &&
         st.st_ino == kSubvolumeRootInode;
}

Status LinuxHost::SetNoCow(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY | O_NOFOLLOW));
  int flags = 0;
  if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
    return PosixError(fmt::format("read inode flags (FS_IOC_GETFLAGS) of {}", path), errno);
  }
  if (flags & FS_NOCOW_FL) return absl::OkStatus();
  flags |= FS_NOCOW_FL;
  if (::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) != 0) {
    return PosixError(fmt::format("set no-copy-on-write (chattr +C) on {}", path), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::SyncFilesystem(const std::string& path) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(path, O_RDONLY));
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) == 0 && static_cast<uint64_t>(fs.f_type) == BTRFS_SUPER_MAGIC) {
    // syncfs(2) commits but leaves btrfs's cleaner asleep; BTRFS_IOC_SYNC
    // commits and wakes it, so deleted subvolumes are freed now.
    if (RetryOnEintr([&] { return ::ioctl(fd.get(), BTRFS_IOC_SYNC, nullptr); }) != 0) {
      return PosixError(fmt::format("sync (BTRFS_IOC_SYNC) {}", path), errno);
    }
    return absl::OkStatus();
  }
  if (RetryOnEintr([&] { return ::syncfs(fd.get()); }) != 0) {
    return PosixError(fmt::format("syncfs {}", path), errno);
  }
  return absl::OkStatus();
}

}  // namespace ditto::host
