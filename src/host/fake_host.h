// An in-memory Host for unit tests without root.
//
// Files are sparse: an apparent size plus a map of written 4 KiB blocks.
// Reflink shares block data (copy-on-write), so Extents reports a block as
// shared while another file holds the same block; writing it makes a private
// copy. StatFilesystem reports used bytes as the sum of distinct allocated
// blocks against a configurable capacity; writes beyond it fail with
// ResourceExhausted. Loop devices, mounts and freezes are recorded, not
// performed; Run answers through a settable handler and logs every argv.
// InjectError makes a chosen method fail for paths containing a substring.
// With the filesystem type "btrfs", subvolumes work: a snapshot copies the
// subvolume's tree sharing every block; a read-only one refuses changes.
//
// The namespace starts with "/" only. Paths must be absolute; "." and ".."
// components and repeated slashes are normalised; there are no symlinks.
// Attached loop devices appear as block-device nodes /dev/loopN; ReadAt and
// WriteAt on them reach the backing file, within the device's size. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "host/host.h"

namespace ditto::host {

class FakeHost : public Host {
 public:
  static constexpr uint64_t kBlockSize = 4096;

  using RunHandler = std::function<StatusOr<CommandResult>(const std::vector<std::string>&)>;

  struct LoopInfo {
    std::string backing_file;
    uint64_t size = 0;  // as of attach or the last RefreshLoopCapacity
    bool direct_io = false;
    bool read_only = false;
  };

  FakeHost();

  // ---- configuration and inspection (for tests) ----
  // When false, Reflink returns Unimplemented (like ext4). Default true.
  void set_reflink_supported(bool supported);
  // Capacity in bytes of the single fake filesystem. Default 1 TiB.
  void set_capacity(uint64_t bytes);
  // Type reported by StatFilesystem. Default "xfs".
  void set_filesystem_type(std::string type);
  // Handles Run (called without the lock held, so it may call back into this
  // host). Default: exit code 0 and no output.
  void set_run_handler(RunHandler handler);
  // Every argv passed to Run, in order.
  std::vector<std::vector<std::string>> commands() const;
  // Makes `method` (a Host method name such as "Reflink" or "WriteAt") fail
  // with `status` when any of its path arguments contains `path_substring`
  // ("" matches all; for Run the argv joined by spaces is matched). `times`
  // limits how many calls fail; negative means every call.
  void InjectError(std::string method, std::string path_substring, Status status, int times = -1);
  void ClearInjectedErrors();
  // Whether the filesystem at `mount_point` is frozen; how often Freeze and
  // Thaw succeeded.
  bool frozen(const std::string& mount_point) const;
  int freeze_count() const;
  int thaw_count() const;
  // Bytes in distinct allocated blocks (what StatFilesystem reports as used).
  uint64_t used_bytes() const;
  std::optional<LoopInfo> loop_info(const std::string& device) const;
  // Adds a mount entry as if something else had mounted it.
  void AddMount(MountEntry entry);

  // ---- Host ----
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

 private:
  struct Block {
    explicit Block(uint64_t id) : id(id), data(kBlockSize, '\0') {}
    uint64_t id;  // fake physical block number
    std::string data;
  };
  enum class Kind { kDirectory, kFile, kBlockDevice };
  struct Node {
    Kind kind = Kind::kFile;
    uint32_t mode = 0600;
    uint64_t inode = 0;
    uint64_t size = 0;
    uint64_t rdev = 0;
    std::map<uint64_t, std::shared_ptr<Block>> blocks;  // by block index
    bool subvolume = false;  // a directory that is the root of a btrfs subvolume
    bool read_only = false;  // subvolume roots only: nothing below may change
    bool no_cow = false;     // FS_NOCOW_FL; files made in a no_cow directory inherit it
  };
  struct InjectedError {
    std::string method;
    std::string path_substring;
    Status status;
    int remaining;
  };

  Status Injected(std::string_view method, std::initializer_list<std::string_view> paths)
      ABSL_LOCKS_EXCLUDED(mutex_);
  StatusOr<Node*> Find(const std::string& path, std::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  StatusOr<Node*> FindFile(const std::string& path, std::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Checks that the parent of `path` is an existing directory.
  Status CheckParent(const std::string& path, std::string_view op)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  Node& NewNode(const std::string& path, Kind kind, uint32_t mode)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::shared_ptr<Block> NewBlock() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  uint64_t UsedBlocks() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // ResourceExhausted when `extra_blocks` more would exceed the capacity.
  Status Reserve(uint64_t extra_blocks, std::string_view op, const std::string& path) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Blocks that writing [offset, offset+length) would newly allocate.
  static uint64_t BlocksNeeded(const Node& node, uint64_t offset, uint64_t length);
  // Makes block `index` private and writable (allocating or copying it).
  Block& WritableBlock(Node& node, uint64_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void WriteLocked(Node& node, uint64_t offset, const std::string& data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  static std::string ReadLocked(const Node& node, uint64_t offset, uint64_t length);
  void TruncateLocked(Node& node, uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool HasChildren(const std::string& path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // FailedPrecondition ("Read-only file system") when `path` is inside a
  // read-only subvolume.
  Status CheckWritable(const std::string& path, std::string_view op) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Unimplemented unless the filesystem type is "btrfs".
  Status CheckBtrfs(const std::string& path, std::string_view op) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  mutable std::mutex mutex_;
  std::map<std::string, Node> nodes_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_inode_ ABSL_GUARDED_BY(mutex_) = 2;
  uint64_t next_block_id_ ABSL_GUARDED_BY(mutex_) = 1;
  bool reflink_supported_ ABSL_GUARDED_BY(mutex_) = true;
  uint64_t capacity_ ABSL_GUARDED_BY(mutex_) = uint64_t{1} << 40;
  std::string filesystem_type_ ABSL_GUARDED_BY(mutex_) = "xfs";
  RunHandler run_handler_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::vector<std::string>> commands_ ABSL_GUARDED_BY(mutex_);
  std::vector<InjectedError> injected_ ABSL_GUARDED_BY(mutex_);
  std::set<std::string> frozen_ ABSL_GUARDED_BY(mutex_);
  struct LockTable {
    std::mutex mutex;
    std::set<std::string> held;  // guarded by mutex
  };
  // Shared with the locks handed out, which may outlive this host.
  std::shared_ptr<LockTable> locks_ = std::make_shared<LockTable>();
  int freeze_count_ ABSL_GUARDED_BY(mutex_) = 0;
  int thaw_count_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<int, LoopInfo> loops_ ABSL_GUARDED_BY(mutex_);  // by N of /dev/loopN
  std::vector<MountEntry> mounts_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace ditto::host
