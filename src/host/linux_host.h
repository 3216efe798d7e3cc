// The real Host: Linux syscalls, ioctls and execve. Stateless, so every method
// is safe to call from any thread. Every errno goes through PosixError().
#pragma once

#include <chrono>

#include <string>
#include <vector>

#include "host/host.h"

namespace ditto::host {

class LinuxHost : public Host {
 public:
  // The only PATH used to find external tools (and the one given to them).
  static constexpr const char* kToolPath =
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  // How long Run() lets a command take before it kills it (mkfs, resize2fs
  // and e2fsck of a large filesystem take minutes; a hung mount(8) forever).
  static constexpr std::chrono::milliseconds kDefaultCommandTimeout = std::chrono::minutes(15);

  LinuxHost() = default;
  explicit LinuxHost(std::chrono::milliseconds command_timeout)
      : command_timeout_(command_timeout) {}

  Status MakeDirectories(const std::string& path, uint32_t mode) override;
  StatusOr<FileInfo> Stat(const std::string& path) override;
  StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) override;
  Status CreateSparseFile(const std::string& path, uint64_t size) override;
  Status Touch(const std::string& path) override;
  Status Allocate(const std::string& path, uint64_t offset, uint64_t length) override;
  Status PunchHole(const std::string& path, uint64_t offset, uint64_t length) override;
  Status Resize(const std::string& path, uint64_t size) override;
  Status SyncFile(const std::string& path) override;
  Status SyncDirectory(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SetMode(const std::string& path, uint32_t mode) override;
  StatusOr<std::string> ReadFile(const std::string& path) override;
  Status WriteFileAtomically(const std::string& path, const std::string& contents) override;
  Status WriteAt(const std::string& path, uint64_t offset, const std::string& data) override;
  StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset, uint64_t length) override;
  StatusOr<std::string> RealPath(const std::string& path) override;

  Status Reflink(const std::string& source, const std::string& destination) override;
  Status SparseCopy(const std::string& source, const std::string& destination) override;
  // In linux_host_allocate.cc.
  Status AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) override;
  StatusOr<std::vector<Extent>> Extents(const std::string& path) override;
  StatusOr<FilesystemInfo> StatFilesystem(const std::string& path) override;
  Status Freeze(const std::string& mount_point) override;
  Status Thaw(const std::string& mount_point) override;
  StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path, int timeout_ms) override;

  Status CreateSubvolume(const std::string& path) override;
  Status SnapshotSubvolume(const std::string& source, const std::string& destination,
                           bool read_only) override;
  Status DeleteSubvolume(const std::string& path) override;
  Status MakeSubvolumeReadOnly(const std::string& path) override;
  StatusOr<bool> IsSubvolume(const std::string& path) override;
  Status SetNoCow(const std::string& path) override;
  Status SyncFilesystem(const std::string& path) override;

  StatusOr<std::string> AttachLoop(const std::string& backing_file, bool direct_io,
                                   bool read_only) override;
  Status DetachLoop(const std::string& device) override;
  StatusOr<std::vector<LoopDevice>> ListLoops() override;
  Status RefreshLoopCapacity(const std::string& device) override;
  StatusOr<uint64_t> BlockDeviceSize(const std::string& device) override;

  Status Mount(const std::string& source, const std::string& target, const std::string& fs_type,
               const MountOptions& options) override;
  Status Unmount(const std::string& target) override;
  StatusOr<std::vector<MountEntry>> ListMounts() override;

  StatusOr<CommandResult> Run(const std::vector<std::string>& argv) override;

  // Not part of Host: umount2(target, MNT_DETACH), a lazy unmount that always
  // succeeds on a mount point even while it is busy. For last-resort cleanup
  // (test fixtures); NotFound when nothing is mounted at `target`.
  Status UnmountLazily(const std::string& target);

 private:
  std::chrono::milliseconds command_timeout_ = kDefaultCommandTimeout;
};

// Parses the text of /proc/<pid>/mountinfo (exposed for tests). Octal escapes
// such as "\040" (space) are decoded.
StatusOr<std::vector<MountEntry>> ParseMountInfo(const std::string& text);

}  // namespace ditto::host
