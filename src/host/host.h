// The one boundary between ditto and the operating system. Every side effect
// (files, FICLONE, FIEMAP, FIFREEZE, loop devices, mounts, external tools)
// goes through a Host, so the logic above it runs against FakeHost without
// root, and fault injection wraps any implementation (ForwardingHost).
//
// Contract: methods never throw; errno becomes a Status in exactly one place
// in the Linux implementation. Paths are absolute. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ditto::host {

struct FileInfo {
  uint64_t size = 0;             // apparent size in bytes
  uint64_t allocated_bytes = 0;  // st_blocks * 512
  bool is_directory = false;
  bool is_regular = false;
  bool is_block_device = false;
  bool is_symlink = false;       // from lstat: the path itself is a link
  uint32_t mode = 0;             // permission bits
  uint64_t device = 0;           // st_dev
  uint64_t inode = 0;
  uint64_t rdev = 0;             // for block devices
};

// One FIEMAP extent of a file.
struct Extent {
  uint64_t logical = 0;
  uint64_t physical = 0;
  uint64_t length = 0;
  bool shared = false;  // FIEMAP_EXTENT_SHARED: also referenced by another file
};

struct FilesystemInfo {
  std::string type;  // "xfs", "ext4", "btrfs", ... ("0x..." when unknown)
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;       // f_bfree
  uint64_t available_bytes = 0;  // f_bavail
  uint64_t total_inodes = 0;
  uint64_t free_inodes = 0;
};

struct MountEntry {
  std::string source;   // device or "none"
  std::string target;   // mount point
  std::string fs_type;
  std::string options;  // per-mount options, comma separated
  std::string root;     // root of the mount within its filesystem (bind mounts)
  std::string device_number;  // "major:minor"
};

struct LoopDevice {
  std::string device;        // /dev/loopN
  std::string backing_file;  // as the kernel reports it
};

struct CommandResult {
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
};

// Flags for Mount; a subset of MS_* that ditto uses.
struct MountOptions {
  bool bind = false;
  bool read_only = false;
  bool remount = false;
  std::string data;  // fs-specific options, passed to mount(2) as data
};

// An advisory lock, released when destroyed or when the process dies.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Host {
 public:
  virtual ~Host() = default;

  // ---- files and directories ----
  virtual Status MakeDirectories(const std::string& path, uint32_t mode) = 0;
  // NotFound when missing. Does not follow a final symlink (lstat).
  virtual StatusOr<FileInfo> Stat(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, without "." and "..".
  virtual StatusOr<std::vector<std::string>> ListDirectory(const std::string& path) = 0;
  // Creates a new file (fails AlreadyExists if present) of `size` bytes with no
  // blocks allocated, then fsyncs it.
  virtual Status CreateSparseFile(const std::string& path, uint64_t size) = 0;
  // Creates an empty regular file if missing (for bind-mount targets).
  virtual Status Touch(const std::string& path) = 0;
  // fallocate(0, offset, length): reserves blocks (thick volumes).
  virtual Status Allocate(const std::string& path, uint64_t offset, uint64_t length) = 0;
  // fallocate(PUNCH_HOLE | KEEP_SIZE, offset, length) + fsync: the range
  // reads as zeros and holds no blocks (partial blocks at its ends are
  // zeroed); the size is unchanged.
  virtual Status PunchHole(const std::string& path, uint64_t offset, uint64_t length) = 0;
  // ftruncate + fsync.
  virtual Status Resize(const std::string& path, uint64_t size) = 0;
  virtual Status SyncFile(const std::string& path) = 0;
  virtual Status SyncDirectory(const std::string& path) = 0;
  // rename(2): atomic replacement within one filesystem.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file or an empty directory. NotFound when missing.
  virtual Status Remove(const std::string& path) = 0;
  virtual Status SetMode(const std::string& path, uint32_t mode) = 0;
  virtual StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Writes `contents` to a temp file beside `path`, fsyncs, renames over
  // `path`, fsyncs the directory: readers see the old or the new contents.
  virtual Status WriteFileAtomically(const std::string& path, const std::string& contents) = 0;
  // Positional I/O on an existing file (no O_CREAT), followed by fsync on write.
  virtual Status WriteAt(const std::string& path, uint64_t offset, const std::string& data) = 0;
  virtual StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset, uint64_t length) = 0;
  // Resolves symlinks and "..": realpath(3). NotFound when missing.
  virtual StatusOr<std::string> RealPath(const std::string& path) = 0;
  // Takes an exclusive flock(2) on `path` (created 0600 if missing), waiting up
  // to `timeout_ms`; Unavailable while another holder keeps it past that.
  virtual StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                       int timeout_ms) = 0;

  // ---- copy-on-write ----
  // Creates `destination` (must not exist) sharing all of `source`'s extents
  // via FICLONE, then fsyncs it. Unimplemented when the filesystem cannot
  // reflink (EOPNOTSUPP, EXDEV, EINVAL); the partial destination is removed.
  virtual Status Reflink(const std::string& source, const std::string& destination) = 0;
  // Creates `destination` (must not exist) with the same size and data, copying
  // only the SEEK_DATA ranges with copy_file_range, so holes stay holes.
  virtual Status SparseCopy(const std::string& source, const std::string& destination) = 0;
  // Makes [offset, offset+length) of `path` allocated and exclusive to it, so
  // later writes there need no free space: fallocate(FALLOC_FL_UNSHARE_RANGE)
  // where the filesystem unshares (XFS), else (btrfs) each shared piece is
  // copied into an unnamed file and swapped in with FIDEDUPERANGE, which
  // replaces the blocks only while they still hold the bytes copied; then
  // fallocate(0) for the holes, and fsync. ResourceExhausted when the
  // filesystem runs out of space. Safe while others write the file (through
  // a loop device, say): no write of theirs is undone.
  virtual Status AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) = 0;
  // FIEMAP of the whole file, with FIEMAP_FLAG_SYNC.
  virtual StatusOr<std::vector<Extent>> Extents(const std::string& path) = 0;
  virtual StatusOr<FilesystemInfo> StatFilesystem(const std::string& path) = 0;
  // FIFREEZE / FITHAW on the filesystem mounted at `mount_point`.
  virtual Status Freeze(const std::string& mount_point) = 0;
  virtual Status Thaw(const std::string& mount_point) = 0;

  // ---- btrfs subvolumes (Unimplemented elsewhere) ----
  // BTRFS_IOC_SUBVOL_CREATE_V2: a new empty subvolume at `path` (must not exist).
  virtual Status CreateSubvolume(const std::string& path) = 0;
  // BTRFS_IOC_SNAP_CREATE_V2: `destination` (must not exist) becomes a
  // snapshot of the subvolume `source`, read-only when asked. O(1): it shares
  // the source's tree root, whatever its files hold.
  virtual Status SnapshotSubvolume(const std::string& source, const std::string& destination,
                                   bool read_only) = 0;
  // BTRFS_IOC_SNAP_DESTROY_V2: removes the subvolume at `path` with all it
  // holds (read-only ones too); its blocks are freed in the background.
  // NotFound when missing.
  virtual Status DeleteSubvolume(const std::string& path) = 0;
  // BTRFS_IOC_SUBVOL_SETFLAGS: makes the subvolume at `path` read-only. (A
  // read-only subvolume cannot be renamed: seal it where it stays.)
  virtual Status MakeSubvolumeReadOnly(const std::string& path) = 0;
  // Whether `path` is the root directory of a btrfs subvolume.
  virtual StatusOr<bool> IsSubvolume(const std::string& path) = 0;
  // FS_NOCOW_FL (chattr +C) on a directory (files made in it inherit it) or an
  // empty file: writes to unshared blocks then happen in place.
  virtual Status SetNoCow(const std::string& path) = 0;
  // syncfs(2) of the filesystem holding `path`; on btrfs BTRFS_IOC_SYNC: a
  // transaction commit that also wakes the cleaner (deleted subvolumes).
  virtual Status SyncFilesystem(const std::string& path) = 0;

  // ---- block devices ----
  // Attaches a free loop device to `backing_file` (LOOP_CONFIGURE), with
  // direct I/O when asked and possible; a direct-I/O device always has
  // 4096-byte logical blocks. Returns "/dev/loopN".
  virtual StatusOr<std::string> AttachLoop(const std::string& backing_file, bool direct_io,
                                           bool read_only) = 0;
  virtual Status DetachLoop(const std::string& device) = 0;
  virtual StatusOr<std::vector<LoopDevice>> ListLoops() = 0;
  // LOOP_SET_CAPACITY: the device picks up the backing file's new size.
  virtual Status RefreshLoopCapacity(const std::string& device) = 0;
  virtual StatusOr<uint64_t> BlockDeviceSize(const std::string& device) = 0;

  // ---- mounts ----
  virtual Status Mount(const std::string& source, const std::string& target,
                       const std::string& fs_type, const MountOptions& options) = 0;
  // umount2(target, 0). NotFound when nothing is mounted there.
  virtual Status Unmount(const std::string& target) = 0;
  virtual StatusOr<std::vector<MountEntry>> ListMounts() = 0;

  // ---- external tools ----
  // execve(argv[0] looked up in a fixed PATH) with an argv array; never a
  // shell. A non-zero exit is not an error here: callers read exit_code.
  virtual StatusOr<CommandResult> Run(const std::vector<std::string>& argv) = 0;
};

}  // namespace ditto::host
