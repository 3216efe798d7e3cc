// A pool: a directory on a reflink-capable filesystem holding sparse volume
// images, read-only snapshot images and the catalog. Clones and restores are
// FICLONE of the source image (cost follows extent count, not bytes); where
// the filesystem cannot reflink, a sparse-aware copy.
//
// Layout (DATA is DIR itself, or DIR/data when DIR's filesystem cannot
// reflink and the pool lives in a loop-mounted XFS backing file):
//   DIR/pool.json             how the pool is laid out (written at init)
//   DIR/backing.img           the XFS image (backing pools only)
//   DATA/catalog.db           catalog (SQLite)
//   DATA/volumes/<id>.img     volume images, exactly their capacity
//   DATA/snapshots/<id>.img   snapshot images, mode 0444
//   DATA/tmp/                 files being made; emptied on open
//
// Crash safety: a new image is made under tmp/, fsynced, renamed into
// volumes/ or snapshots/ and that directory fsynced before its catalog row is
// committed; a delete commits the row's removal before unlinking the image.
// So every committed row has its image, and a crash can leave only files in
// tmp/ and images without a row, which Open() removes (refusing to when the
// catalog itself looks lost). An expansion records an intent (state
// expanding) that Open() finishes. Each create and delete is one catalog
// commit, shared with concurrent ones (see SqliteCatalog).
// Thread-safe; two operations on the same volume, snapshot or name at once:
// the second fails ABORTED.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "catalog/catalog.h"
#include "common/status.h"
#include "host/host.h"
#include "pool/operation_locks.h"

namespace ditto::pool {

enum class Backing {
  kAuto,    // use DIR if it can reflink, else a loop-mounted XFS backing file
  kNever,   // always use DIR directly (sparse copy when it cannot reflink)
  kAlways,  // always use a backing file
};

struct InitOptions {
  uint64_t size_bytes = 20ull << 30;  // backing file size
  Backing backing = Backing::kAuto;
  double overcommit_ratio = 10.0;
};

struct PoolLayout {
  std::string dir;
  std::string data_dir;
  bool backing_file = false;
  uint64_t backing_size_bytes = 0;
};

enum class SourceKind { kNone, kVolume, kSnapshot };

struct CreateVolumeSpec {
  std::string name;          // required, unique; the idempotency key
  uint64_t capacity_bytes = 0;  // 0: the source's size (required when no source)
  bool thick = false;        // fallocate the whole image
  std::string mode_hint;     // "mount", "block" or ""
  std::string fs_type;
  std::map<std::string, std::string> parameters;
  SourceKind source_kind = SourceKind::kNone;
  std::string source_id;
};

struct CreateVolumeResult {
  catalog::VolumeRecord volume;
  bool created = false;  // false: an identical earlier request made it
};

struct CreateSnapshotResult {
  catalog::SnapshotRecord snapshot;
  bool created = false;
};

struct ImageSpace {
  uint64_t size_bytes = 0;       // apparent size
  uint64_t allocated_bytes = 0;  // bytes with data
  uint64_t shared_bytes = 0;     // allocated bytes shared with another image
  uint64_t exclusive_bytes = 0;  // allocated bytes only this image holds
  uint64_t extent_count = 0;
};

struct PoolStatus {
  PoolLayout layout;
  std::string fs_type;
  bool reflink = false;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t free_bytes = 0;  // available to ditto
  uint64_t volume_count = 0;
  uint64_t snapshot_count = 0;
  uint64_t provisioned_bytes = 0;  // sum of volume capacities
  uint64_t shared_bytes = 0;       // sum over images of their shared bytes
  double overcommit_ratio = 0;
};

class Pool {
 public:
  // Creates a pool at `dir` (made if missing). Fails AlreadyExists when
  // `dir` already holds a pool.
  static StatusOr<std::unique_ptr<Pool>> Init(host::Host& host, const std::string& dir,
                                              const InitOptions& options);
  // Opens an existing pool: takes DIR/pool.lock (waiting up to
  // `lock_timeout_ms`; Unavailable when another process keeps the pool open),
  // re-mounts its backing file if needed, opens the catalog, recovers
  // interrupted operations. FailedPrecondition when `dir` is not a pool.
  static constexpr int kDefaultLockTimeoutMs = 30000;
  static StatusOr<std::unique_ptr<Pool>> Open(host::Host& host, const std::string& dir,
                                              int lock_timeout_ms = kDefaultLockTimeoutMs);
  // Opens `dir` if it is a pool, else initialises it.
  static StatusOr<std::unique_ptr<Pool>> OpenOrInit(host::Host& host, const std::string& dir,
                                                    const InitOptions& options);

  // Volumes. Create is idempotent by name: the same spec again returns the
  // existing volume (created=false); a different spec fails AlreadyExists.
  // Source missing: NotFound. Capacity below the source's: OutOfRange.
  StatusOr<CreateVolumeResult> CreateVolume(const CreateVolumeSpec& spec);
  // Idempotent: a missing volume is OK. Snapshots and clones are untouched.
  Status DeleteVolume(const std::string& id);
  // Grows the image to `capacity_bytes` (no-op if already that large).
  StatusOr<catalog::VolumeRecord> ExpandVolume(const std::string& id, uint64_t capacity_bytes);
  StatusOr<catalog::VolumeRecord> GetVolume(const std::string& id);  // NotFound
  StatusOr<std::optional<catalog::VolumeRecord>> FindVolumeByName(const std::string& name);
  StatusOr<std::vector<catalog::VolumeRecord>> ListVolumes();

  // Snapshots: a read-only reflink of the volume. Idempotent by name; same
  // name with another source fails AlreadyExists.
  StatusOr<CreateSnapshotResult> CreateSnapshot(const std::string& name,
                                                const std::string& source_volume_id);
  Status DeleteSnapshot(const std::string& id);  // idempotent
  StatusOr<catalog::SnapshotRecord> GetSnapshot(const std::string& id);  // NotFound
  StatusOr<std::optional<catalog::SnapshotRecord>> FindSnapshotByName(const std::string& name);
  StatusOr<std::vector<catalog::SnapshotRecord>> ListSnapshots();

  StatusOr<ImageSpace> VolumeSpace(const std::string& id);
  StatusOr<ImageSpace> SnapshotSpace(const std::string& id);
  StatusOr<PoolStatus> GetStatus();
  Status SetOvercommitRatio(double ratio);

  // Whether the pool filesystem cloned with FICLONE (probed at open).
  bool reflink() const { return reflink_; }
  const PoolLayout& layout() const { return layout_; }
  std::string VolumePath(const std::string& id) const;
  std::string SnapshotPath(const std::string& id) const;
  catalog::Catalog& catalog() { return *catalog_; }
  host::Host& host() { return host_; }

  // ---- volume modification (pool_modify.cc) ----
  // thick: the volume's whole image allocated and exclusive to it
  // (Host::AllocateUnshared), so its writes no longer need free pool space;
  // ResourceExhausted, with nothing changed, when the pool cannot hold the
  // blocks that takes. Repeating it re-allocates what snapshots or clones
  // made shared since. A mounted volume's filesystem is frozen meanwhile.
  // thin: recorded only; the blocks stay allocated until the data is
  // rewritten or the volume deleted. NotFound for a missing volume.
  StatusOr<catalog::VolumeRecord> SetVolumeThick(const std::string& id, bool thick);

  // ---- volume group snapshots (pool_group_snapshots.cc) ----
  struct GroupSnapshot {
    catalog::GroupSnapshotRecord group;
    std::vector<catalog::SnapshotRecord> members;  // in snapshot_ids order
    bool created = false;  // false: an identical earlier request made it
  };
  // One snapshot per volume, crash-consistent: every member that ditto has
  // mounted is frozen before the first reflink and thawed after the last
  // (always, errors included); the group and its members are committed in
  // one catalog transaction, so a crash leaves all of them or none.
  // Idempotent by name; the same name with other volumes: AlreadyExists.
  // A volume not in this pool: NotFound. Each member is an ordinary
  // snapshot (restore, delta), deleted with its group.
  StatusOr<GroupSnapshot> CreateGroupSnapshot(const std::string& name,
                                              const std::vector<std::string>& volume_ids);
  StatusOr<GroupSnapshot> GetGroupSnapshot(const std::string& id);  // NotFound
  StatusOr<std::optional<GroupSnapshot>> FindGroupSnapshotByName(const std::string& name);
  // Removes the group and its member snapshots (one commit, then the
  // images). Idempotent: a missing group is OK.
  Status DeleteGroupSnapshot(const std::string& id);

 private:
  Pool(host::Host& host, PoolLayout layout, std::unique_ptr<catalog::Catalog> catalog);

  // Open() once DIR/pool.lock is held.
  static StatusOr<std::unique_ptr<Pool>> OpenLocked(host::Host& host, PoolLayout layout,
                                                    std::unique_ptr<host::FileLock> process_lock);
  Status Recover();
  // Reflinks (or sparse-copies) `source` to the new file `temp_path`, grown to
  // `size` and fsynced, freezing the filesystem of `frozen_volume_id` (if
  // ditto has it mounted) around the copy. Returns the method used.
  StatusOr<std::string> CopyImage(const std::string& source, const std::string& temp_path,
                                  uint64_t size, const std::string& frozen_volume_id);
  // rename(2) into place, then fsync the directory: the image now exists.
  Status PublishImage(const std::string& temp_path, const std::string& final_path);
  // Capacity promised to a create or expansion until its row is in the
  // catalog: concurrent requests cannot together pass the over-commit limit.
  class Reservation {
   public:
    Reservation(Pool& pool, uint64_t bytes) : pool_(pool), bytes_(bytes) {}
    ~Reservation();
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;

   private:
    Pool& pool_;
    uint64_t bytes_;
  };
  // ResourceExhausted when `additional_bytes` more would provision beyond
  // overcommit ratio x pool capacity (rows and reservations counted).
  StatusOr<std::unique_ptr<Reservation>> ReserveCapacity(uint64_t additional_bytes);
  // Removes images in `kind` ("volumes" or "snapshots") that no row names.
  Status RemoveOrphanImages(const std::string& kind, const std::set<std::string>& ids);
  // Removes `path`; a missing file is fine.
  Status RemoveIfPresent(const std::string& path);
  StatusOr<ImageSpace> ImageSpaceOf(const std::string& path);
  std::string TempPath(const std::string& id) const;

  host::Host& host_;
  // One process at a time opens a pool: recovery must not roll back the
  // intents of another process's operations in flight.
  std::unique_ptr<host::FileLock> process_lock_;
  PoolLayout layout_;
  std::unique_ptr<catalog::Catalog> catalog_;
  bool reflink_ = false;
  OperationLocks locks_;
  std::mutex reserve_mu_;
  uint64_t reserved_bytes_ ABSL_GUARDED_BY(reserve_mu_) = 0;
};

}  // namespace ditto::pool
