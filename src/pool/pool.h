// A pool: a directory holding sparse volume images, read-only snapshot images
// and the catalog. How images are kept and cloned is its backend's
// (image_backend.h): btrfs subvolumes (a clone is an O(1) subvolume
// snapshot, the default) or reflink files (a clone is FICLONE of the image,
// cost per extent; a sparse-aware copy where the filesystem cannot reflink).
//
// Layout (DATA is DIR itself when DIR's filesystem suits the backend, else
// DIR/data, where the pool mounts its own filesystem: a loop-mounted backing
// file DIR/backing.img, or a whole device found by its filesystem UUID):
//   DIR/pool.json             how the pool is laid out (written at init)
//   DIR/backing.img           the backing filesystem image (backing pools only)
//   DATA/catalog.db           catalog (SQLite; no copy-on-write on btrfs)
//   DATA/volumes/<entry>      volume images, exactly their capacity
//   DATA/snapshots/<entry>    snapshot images, read-only
//   DATA/tmp/                 entries being made; emptied on open
// An entry is <id>.img (reflink-files) or the subvolume <id> holding
// disk.img (btrfs-subvolumes).
//
// Crash safety: a new image is made under tmp/, made durable, renamed into
// volumes/ or snapshots/ and that directory fsynced before its catalog row is
// committed (a copy that the backend makes whole and durable in one step, a
// btrfs subvolume snapshot, is made at its final name instead: one
// transaction commit, image_backend.h); a delete commits the row's removal before removing the image.
// So every committed row has its image, and a crash can leave only entries in
// tmp/ and images without a row, which Open() removes (refusing to when the
// catalog itself looks lost). An expansion records an intent (state
// expanding) that Open() finishes. Each create and delete is one catalog
// commit, shared with concurrent ones (see SqliteCatalog). A clone or
// snapshot of a mounted volume freezes its filesystem around the copy step
// alone, bounded by a watchdog (freezer.h); Open() thaws what a crash left
// frozen.
// Thread-safe; two operations on the same volume, snapshot or name at once:
// the second fails ABORTED.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <condition_variable>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "catalog/catalog.h"
#include "common/phase_timer.h"
#include "common/status.h"
#include "host/host.h"
#include "pool/image_backend.h"
#include "pool/operation_locks.h"
#include "pool/space_cache.h"

namespace ditto::pool {

enum class Backing {
  kAuto,    // use DIR if its filesystem suits the backend, else a backing file
  kNever,   // always use DIR directly (xfs: sparse copy when it cannot reflink)
  kAlways,  // always use a backing file
};

// The backends `dittoctl pool init --backend` offers.
enum class BackendChoice {
  kBtrfs,  // btrfs-subvolumes: on btrfs, else a btrfs backing file or device
  kXfs,    // reflink-files: on a reflink filesystem, else an XFS backing file or device
};

// "btrfs" or "xfs"; InvalidArgument naming both for anything else.
StatusOr<BackendChoice> ParseBackendChoice(std::string_view text);
// The default backend for new pools: $DITTO_POOL_BACKEND when set, else btrfs.
StatusOr<BackendChoice> DefaultBackendChoice();

struct InitOptions {
  uint64_t size_bytes = 20ull << 30;  // backing file size
  Backing backing = Backing::kAuto;
  BackendChoice backend = BackendChoice::kBtrfs;
  // A whole disk or partition for the pool's own filesystem (no backing
  // file). Refused when it holds a filesystem or partition table or is
  // mounted, unless `force`.
  std::string device;
  bool force = false;
  double overcommit_ratio = 10.0;
};

struct PoolLayout {
  std::string dir;
  std::string data_dir;
  std::string backend = std::string(kReflinkFilesBackend);  // image_backend.h names
  bool backing_file = false;
  uint64_t backing_size_bytes = 0;
  std::string backing_fs;   // filesystem of the backing file or device: "xfs" or "btrfs"
  std::string device;       // the device given at init (device pools only)
  std::string device_uuid;  // its filesystem UUID, how it is found when opened
};

enum class SourceKind { kNone, kVolume, kSnapshot };

// How a copy of a volume that ditto has mounted (staged) is made consistent.
enum class Consistency {
  // The source's filesystem frozen around the copy step: the copy mounts
  // clean, as if unmounted at that instant (the default).
  kFilesystem,
  // No freeze: the copy is what a power cut at that instant would leave on
  // the volume; its filesystem replays its journal when mounted. The
  // source's application never pauses.
  kCrash,
};

struct CreateVolumeSpec {
  std::string name;          // required, unique; the idempotency key
  uint64_t capacity_bytes = 0;  // 0: the source's size (required when no source)
  bool thick = false;        // fallocate the whole image
  std::string mode_hint;     // "mount", "block" or ""
  std::string fs_type;
  std::map<std::string, std::string> parameters;
  SourceKind source_kind = SourceKind::kNone;
  std::string source_id;
  Consistency consistency = Consistency::kFilesystem;  // clones of a volume
};

struct CreateVolumeResult {
  catalog::VolumeRecord volume;
  bool created = false;  // false: an identical earlier request made it
};

struct CreateSnapshotResult {
  catalog::SnapshotRecord snapshot;
  bool created = false;
};

struct PoolStatus {
  PoolLayout layout;
  std::string backend;
  std::string fs_type;
  bool reflink = false;
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t free_bytes = 0;  // available to ditto
  uint64_t volume_count = 0;
  uint64_t snapshot_count = 0;
  uint64_t provisioned_bytes = 0;  // sum of volume capacities
  uint64_t shared_bytes = 0;       // sum over images of their shared bytes
  uint64_t reserved_bytes = 0;     // free space held for thick volumes' overwrites
  double overcommit_ratio = 0;
  // Images whose space figures above are still to be measured, or measured
  // again after a change (0 unless the pool measures in the background).
  uint64_t unmeasured_images = 0;
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
  ~Pool();

  // Volumes. Create is idempotent by name: the same spec again returns the
  // existing volume (created=false); a different spec fails AlreadyExists.
  // Source missing: NotFound. Capacity below the source's: OutOfRange.
  StatusOr<CreateVolumeResult> CreateVolume(const CreateVolumeSpec& spec);
  // Idempotent: a missing volume is OK. Snapshots and clones are untouched,
  // but for the base of a volume copied from another node (FinishImport).
  Status DeleteVolume(const std::string& id);
  // Grows the image to `capacity_bytes` (no-op if already that large).
  StatusOr<catalog::VolumeRecord> ExpandVolume(const std::string& id, uint64_t capacity_bytes);
  StatusOr<catalog::VolumeRecord> GetVolume(const std::string& id);  // NotFound
  StatusOr<std::optional<catalog::VolumeRecord>> FindVolumeByName(const std::string& name);
  StatusOr<std::vector<catalog::VolumeRecord>> ListVolumes();
  // Up to `limit` (<= 0: all) volumes after `after` in (created_at, id)
  // order: one page, at a cost independent of the pool's size.
  StatusOr<std::vector<catalog::VolumeRecord>> ListVolumesPage(
      const std::optional<catalog::ListPosition>& after, int64_t limit);

  // Snapshots: a read-only reflink of the volume. Idempotent by name; same
  // name with another source fails AlreadyExists.
  StatusOr<CreateSnapshotResult> CreateSnapshot(
      const std::string& name, const std::string& source_volume_id,
      Consistency consistency = Consistency::kFilesystem);
  Status DeleteSnapshot(const std::string& id);  // idempotent
  StatusOr<catalog::SnapshotRecord> GetSnapshot(const std::string& id);  // NotFound
  StatusOr<std::optional<catalog::SnapshotRecord>> FindSnapshotByName(const std::string& name);
  StatusOr<std::vector<catalog::SnapshotRecord>> ListSnapshots();
  // As ListVolumesPage; only the snapshots of `source_volume_id` unless empty.
  StatusOr<std::vector<catalog::SnapshotRecord>> ListSnapshotsPage(
      const std::optional<catalog::ListPosition>& after, int64_t limit,
      const std::string& source_volume_id);

  StatusOr<ImageSpace> VolumeSpace(const std::string& id);
  StatusOr<ImageSpace> SnapshotSpace(const std::string& id);
  // Every figure of PoolStatus. The space figures (shared, reserved) come
  // from the pool's space cache (space_cache.h): with StartSpaceRefresh
  // running, reading them costs constant time and each is at most `period`
  // (plus a tick) old, the pool's own changes within a tick; without it,
  // every image's extent map is read here (cost grows with the pool).
  StatusOr<PoolStatus> GetStatus();
  // Measures images in the background: the changed and unmeasured ones
  // every tick (1 s), and every image once per `period`, spread evenly.
  // The first tick measures every image (in rounds of 1000 images, so that
  // a stop waits for one round at most). Stopped by the destructor or
  // StopSpaceRefresh. FailedPrecondition when already running.
  Status StartSpaceRefresh(std::chrono::milliseconds period,
                           std::chrono::milliseconds tick = std::chrono::seconds(1));
  void StopSpaceRefresh();
  // One round of what the background refresh does, for tests: measures
  // the changed and unmeasured images and `budget` more (0: all).
  Status RefreshSpace(size_t budget);
  // Bytes available for new data (one statfs: constant cost at any size).
  StatusOr<uint64_t> FreeBytes();
  // ---- thick reservations (pool_reservations.cc) ----
  // A thick volume holds a reservation of the free space an overwrite of it
  // may still need: its capacity minus the blocks it alone holds (holes and
  // blocks shared with snapshots or clones need new blocks when written).
  // The sum over thick volumes; reads each thick volume's extent map.
  StatusOr<uint64_t> ReservedBytes();
  // Free space less the reservations: what new volumes can have.
  StatusOr<uint64_t> AvailableBytes();
  Status SetOvercommitRatio(double ratio);

  // Whether clones share blocks with their source (reflink or subvolume
  // snapshot; probed at open), rather than being sparse copies.
  bool reflink() const { return backend_->shares_blocks(); }
  const PoolLayout& layout() const { return layout_; }
  const ImageBackend& backend() const { return *backend_; }
  // The image file of a volume or snapshot (what a loop device attaches).
  std::string VolumePath(const std::string& id) const;
  std::string SnapshotPath(const std::string& id) const;
  // The node tag new volume and snapshot IDs start with (common/ids.h);
  // "" (the default): all random. Set before serving requests.
  void set_id_tag(std::string tag) { id_tag_ = std::move(tag); }
  const std::string& id_tag() const { return id_tag_; }
  // How long a clone or snapshot may keep a source's filesystem frozen.
  void set_freeze_limit(std::chrono::milliseconds limit) { freeze_limit_ = limit; }
  catalog::Catalog& catalog() { return *catalog_; }
  host::Host& host() { return host_; }

  // ---- volume modification (pool_modify.cc) ----
  // thick: the volume's whole image allocated and exclusive to it
  // (Host::AllocateUnshared), so its writes no longer need free pool space;
  // ResourceExhausted, with nothing changed, when the pool cannot hold the
  // blocks that takes. Repeating it re-allocates what snapshots or clones
  // made shared since. XFS unshares in the kernel; elsewhere the image is
  // rewritten, a mounted volume's filesystem frozen around each 16 MiB piece.
  // thin: recorded only; the blocks stay allocated until the data is
  // rewritten or the volume deleted. NotFound for a missing volume.
  StatusOr<catalog::VolumeRecord> SetVolumeThick(const std::string& id, bool thick);

  // ---- volumes whose data comes from elsewhere (pool_imports.cc) ----
  // An import is a volume's image written by the caller (a copy from another
  // node) under tmp/, named by the volume ID it will have, and published
  // with its catalog row in one step. Until then nothing outside the pool
  // sees it; Open() removes an unfinished one with the rest of tmp/.
  //
  // Makes the empty sparse image of `volume_id` (`size` bytes), or, with
  // `base_snapshot_id`, a clone of that snapshot of this pool grown to
  // `size` (an incremental copy writes only what changed since); or finds
  // the one an earlier call made (same size) so that writing resumes: the
  // caller asks for the same base each time. Returns the image file to write
  // into. InvalidArgument for a malformed ID; NotFound for a missing base,
  // OutOfRange for one larger than `size`.
  StatusOr<std::string> BeginImport(const std::string& volume_id, uint64_t size,
                                    const std::string& base_snapshot_id = "");
  // Publishes the import of `volume_id` as the volume `spec` describes (name,
  // capacity, mode, filesystem, source; the source is not looked up): the
  // image made durable (and allocated when thick), renamed into volumes/,
  // then the catalog row. A ready volume named `spec.name` is returned
  // instead (created=false) and the import dropped; AlreadyExists if it is
  // not what `spec` asks for. ResourceExhausted as CreateVolume.
  //
  // When `spec` names a snapshot source (another node's), a thin volume also
  // gets a base: a read-only snapshot of the imported image (sharing all its
  // blocks) named "base-of-<volume ID>", whose origin_id is that source, for
  // later incremental copies of the same lineage (ListCopiedSnapshots). It
  // is deleted with the volume. A base that cannot be made is only logged.
  StatusOr<CreateVolumeResult> FinishImport(const std::string& volume_id,
                                            const CreateVolumeSpec& spec);
  // The bases FinishImport made (snapshots with an origin_id), oldest first.
  StatusOr<std::vector<catalog::SnapshotRecord>> ListCopiedSnapshots();
  // Removes an unfinished import; a missing one is fine.
  Status AbandonImport(const std::string& volume_id);

  // ---- volume group snapshots (pool_group_snapshots.cc) ----
  struct GroupSnapshot {
    catalog::GroupSnapshotRecord group;
    std::vector<catalog::SnapshotRecord> members;  // in snapshot_ids order
    bool created = false;  // false: an identical earlier request made it
  };
  // One snapshot per volume, at one instant: every member that ditto has
  // mounted is frozen before the first copy and thawed after the last
  // (always, errors included). With Consistency::kCrash nothing is frozen:
  // each member is what a power cut would leave on it, the members copied
  // back to back (not at one instant). The group and its members are committed in
  // one catalog transaction, so a crash leaves all of them or none.
  // Idempotent by name; the same name with other volumes: AlreadyExists.
  // A volume not in this pool: NotFound. Each member is an ordinary
  // snapshot (restore, delta), deleted with its group.
  StatusOr<GroupSnapshot> CreateGroupSnapshot(
      const std::string& name, const std::vector<std::string>& volume_ids,
      Consistency consistency = Consistency::kFilesystem);
  StatusOr<GroupSnapshot> GetGroupSnapshot(const std::string& id);  // NotFound
  StatusOr<std::optional<GroupSnapshot>> FindGroupSnapshotByName(const std::string& name);
  // Removes the group and its member snapshots (one commit, then the
  // images). Idempotent: a missing group is OK.
  Status DeleteGroupSnapshot(const std::string& id);

  // How long each phase of opening this pool took (mount, catalog, each step
  // of recovery), for dittod's start-up log line.
  const PhaseTimer& open_phases() const { return open_phases_; }

 private:
  Pool(host::Host& host, PoolLayout layout, std::unique_ptr<ImageBackend> backend,
       std::unique_ptr<catalog::Catalog> catalog);

  // Open() once DIR/pool.lock is held.
  static StatusOr<std::unique_ptr<Pool>> OpenLocked(host::Host& host, PoolLayout layout,
                                                    std::unique_ptr<host::FileLock> process_lock);
  // Laps `timer` at each of its phases.
  Status Recover(PhaseTimer& timer);
  // The backend's clone (or, with `snapshot`, read-only snapshot) of the entry
  // `source_entry` as `entry`, grown to `size`, durable, with the filesystem
  // of `frozen_volume_id` (if ditto has it mounted) frozen around the copy
  // step alone and `failpoint` (none when empty) inside that window.
  // Returns the method used.
  StatusOr<std::string> CloneEntry(const std::string& source_entry, const std::string& entry,
                                   uint64_t size, const std::string& frozen_volume_id,
                                   std::string_view failpoint, bool snapshot = false);
  // Where a copy of image `id`, to live at `final_path`, is made: under tmp/,
  // or at `final_path` itself when the backend copies in place.
  std::string CopyEntry(const std::string& id, const std::string& final_path) const;
  // rename(2) into place, then fsync the directory: the image now exists.
  // Nothing to do for an entry made in place (`temp_path` is `final_path`).
  Status PublishImage(const std::string& temp_path, const std::string& final_path);
  // Allocates [offset, offset+length) of volume `id`'s image for it alone.
  Status Thicken(const std::string& id, const std::string& path, uint64_t offset,
                 uint64_t length);
  // Entries (see the layout above).
  std::string VolumeEntry(const std::string& id) const;
  std::string SnapshotEntry(const std::string& id) const;
  std::string TempEntry(const std::string& id) const;
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
  // Free space promised to an operation in progress (a thick create, a
  // snapshot or clone of a thick volume) until it has taken it.
  class SpaceHold {
   public:
    SpaceHold(Pool& pool, uint64_t bytes) : pool_(pool), bytes_(bytes) {}
    ~SpaceHold();
    SpaceHold(const SpaceHold&) = delete;
    SpaceHold& operator=(const SpaceHold&) = delete;

   private:
    Pool& pool_;
    uint64_t bytes_;
  };
  // The reservation volume `volume` holds now (0 for a thin one).
  StatusOr<uint64_t> ReservationOf(const catalog::VolumeRecord& volume);
  // The bytes a snapshot or clone of `source` moves into its reservation:
  // the blocks it alone holds, which the copy shares (0 for a thin source).
  StatusOr<uint64_t> SharedByCopyOf(const catalog::VolumeRecord& source);
  // Holds `bytes` of free space for `what` (a phrase naming the operation and
  // why it needs them). ResourceExhausted, saying how many bytes are missing,
  // when they do not fit in the free space less the reservations of thick
  // volumes (but `except_volume_id`'s) and the holds of operations in
  // progress. Nothing is checked for 0 bytes.
  StatusOr<std::unique_ptr<SpaceHold>> HoldSpace(uint64_t bytes, const std::string& what,
                                                 const std::string& except_volume_id = "");
  // Removes the images among `files` (the listing of `kind`: "volumes" or
  // "snapshots") that no row names.
  Status RemoveOrphanImages(const std::string& kind, const std::vector<std::string>& files,
                            const std::unordered_set<std::string>& ids);
  // The base of a volume imported from another node's snapshot `origin_id`
  // (see FinishImport): its image made from the import's `temp` entry, at
  // its final place; the returned record is to be inserted once the volume
  // is. Nothing is left behind on failure.
  StatusOr<catalog::SnapshotRecord> MakeImportBase(const std::string& temp,
                                                   const std::string& volume_id,
                                                   const std::string& origin_id, uint64_t size);
  // Removes the entry at `path` through the backend; a missing one is fine.
  Status RemoveIfPresent(const std::string& path);
  StatusOr<ImageSpace> ImageSpaceOf(const std::string& path);
  // Space cache keys, and what a pool operation tells the cache.
  static std::string VolumeKey(const std::string& id) { return "vol:" + id; }
  static std::string SnapshotKey(const std::string& id) { return "snap:" + id; }
  // The key of the volume's content source ("" for none).
  static std::string SourceKey(const catalog::VolumeRecord& volume);
  // The volume was made or changed (capacity, thick): measure it again.
  void NoteVolume(const catalog::VolumeRecord& volume);
  // Tracks every image in the catalog (once; later calls do nothing).
  Status LoadSpaceCache();
  void RefreshSpaceLoop(std::chrono::milliseconds period, std::chrono::milliseconds tick);

  host::Host& host_;
  // One process at a time opens a pool: recovery must not roll back the
  // intents of another process's operations in flight.
  std::unique_ptr<host::FileLock> process_lock_;
  PhaseTimer open_phases_;
  PoolLayout layout_;
  std::unique_ptr<ImageBackend> backend_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::chrono::milliseconds freeze_limit_;
  std::string id_tag_;
  OperationLocks locks_;
  std::mutex reserve_mu_;
  uint64_t reserved_bytes_ ABSL_GUARDED_BY(reserve_mu_) = 0;
  std::mutex space_mu_;
  uint64_t held_space_bytes_ ABSL_GUARDED_BY(space_mu_) = 0;
  SpaceCache space_;
  std::mutex space_load_mu_;
  bool space_loaded_ ABSL_GUARDED_BY(space_load_mu_) = false;
  // The background refresh (StartSpaceRefresh); stopped before the members
  // it uses go.
  std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool refresh_stop_ ABSL_GUARDED_BY(refresh_mu_) = false;
  std::thread refresher_;
};

}  // namespace ditto::pool
