// Pool creation, opening (re-mounting a backing file) and crash recovery.
#include <unistd.h>

#include "common/ids.h"
#include "fmt/format.h"
#include "pool/layout.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMinimumBackingBytes = 320ull << 20;  // mkfs.xfs refuses smaller

// Whether `dir`'s filesystem can FICLONE: reflink one 4 KiB file to another.
bool CanReflink(host::Host& host, const std::string& dir) {
  std::string base = JoinPath(dir, fmt::format(".reflink-probe-{}", NewVolumeId()));
  std::string a = base + ".a", b = base + ".b";
  bool ok = host.CreateSparseFile(a, 4096).ok() && host.WriteAt(a, 0, std::string(4096, 'd')).ok();
  Status cloned = ok ? host.Reflink(a, b) : absl::InternalError("probe file not written");
  if (!cloned.ok() && !absl::IsUnimplemented(cloned)) {
    spdlog::warn("reflink probe in {} failed: {}", dir, std::string(cloned.message()));
  }
  (void)host.Remove(a);
  (void)host.Remove(b);
  return cloned.ok();
}

// Mounts DIR/backing.img at DIR/data unless it already is (after a reboot the
// loop device and the mount are gone).
Status MountBacking(host::Host& host, const PoolLayout& layout) {
  ASSIGN_OR_RETURN(auto mounts, host.ListMounts());
  for (const auto& mount : mounts) {
    if (mount.target == layout.data_dir) return absl::OkStatus();
  }
  std::string backing = JoinPath(layout.dir, kBackingFileName);
  RETURN_IF_ERROR(host.MakeDirectories(layout.data_dir, 0700));
  std::string device;
  ASSIGN_OR_RETURN(auto loops, host.ListLoops());
  for (const auto& loop : loops) {
    if (loop.backing_file == backing) device = loop.device;
  }
  bool attached_here = false;
  if (device.empty()) {
    ASSIGN_OR_RETURN(device, host.AttachLoop(backing, /*direct_io=*/false, /*read_only=*/false));
    attached_here = true;
  }
  Status mounted = host.Mount(device, layout.data_dir, "xfs", {});
  if (!mounted.ok()) {
    if (attached_here) (void)host.DetachLoop(device);
    return absl::Status(mounted.code(),
                        fmt::format("cannot mount the pool's backing file {} at {}: {}", backing,
                                    layout.data_dir, std::string(mounted.message())));
  }
  spdlog::info("mounted pool backing file {} ({}) at {}", backing, device, layout.data_dir);
  return absl::OkStatus();
}

Status MakeBacking(host::Host& host, const PoolLayout& layout) {
  std::string backing = JoinPath(layout.dir, kBackingFileName);
  if (layout.backing_size_bytes < kMinimumBackingBytes) {
    return absl::InvalidArgumentError(fmt::format(
        "pool size {} bytes is too small for an XFS backing file; use at least 320Mi",
        layout.backing_size_bytes));
  }
  // A backing file without pool.json is what an interrupted init left.
  if (host.Stat(backing).ok()) RETURN_IF_ERROR(host.Remove(backing));
  RETURN_IF_ERROR(host.CreateSparseFile(backing, layout.backing_size_bytes));
  ASSIGN_OR_RETURN(auto result, host.Run({"mkfs.xfs", "-q", "-f", "-m", "reflink=1", "-L",
                                          "ditto-pool", backing}));
  if (result.exit_code != 0) {
    return absl::InternalError(fmt::format("mkfs.xfs of {} failed (exit {}): {}", backing,
                                           result.exit_code, result.stderr_text));
  }
  return MountBacking(host, layout);
}

// Takes DIR/pool.lock: one process at a time initialises or opens a pool.
StatusOr<std::unique_ptr<host::FileLock>> LockPool(host::Host& host, const std::string& dir,
                                                   int timeout_ms) {
  auto lock = host.LockFile(JoinPath(dir, "pool.lock"), timeout_ms);
  if (absl::IsUnavailable(lock.status())) {
    // The host's message names the holder ("... is locked by PID N; ...").
    std::string message(lock.status().message());
    size_t by = message.find(" is locked by ");
    std::string holder = "another process";
    if (by != std::string::npos) holder = message.substr(by + 14, message.find(';', by) - by - 14);
    return absl::UnavailableError(fmt::format(
        "pool {} is in use by {} (a running dittod or dittoctl; waited {} ms for it); talk to "
        "that dittod with --endpoint, or stop it first",
        dir, holder, timeout_ms));
  }
  return lock;
}

}  // namespace

Pool::Pool(host::Host& host, PoolLayout layout, std::unique_ptr<catalog::Catalog> catalog)
    : host_(host), layout_(std::move(layout)), catalog_(std::move(catalog)) {}

std::string Pool::VolumePath(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "volumes"), id + ".img");
}
std::string Pool::SnapshotPath(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "snapshots"), id + ".img");
}
std::string Pool::TempPath(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "tmp"), id + ".img");
}

StatusOr<std::unique_ptr<Pool>> Pool::Init(host::Host& host, const std::string& dir,
                                           const InitOptions& options) {
  if (!IsCleanAbsolutePath(dir)) {
    return absl::InvalidArgumentError(fmt::format(
        "pool directory \"{}\" must be an absolute path without \".\" or \"..\"", dir));
  }
  if (options.overcommit_ratio <= 0) {
    return absl::InvalidArgumentError("overcommit ratio must be positive (for example 10)");
  }
  RETURN_IF_ERROR(host.MakeDirectories(dir, 0700));
  RETURN_IF_ERROR(host.SetMode(dir, 0700));
  auto already = [&] {
    return absl::AlreadyExistsError(fmt::format(
        "{} already holds a ditto pool; open it (for example `dittoctl pool status {}`) or "
        "choose another directory", dir, dir));
  };
  if (host.Stat(JoinPath(dir, kLayoutFileName)).ok()) return already();
  // Checked again under the pool lock: of two concurrent inits of one
  // directory, the second finds the first's pool.json (or waits for it).
  ASSIGN_OR_RETURN(auto process_lock, LockPool(host, dir, kDefaultLockTimeoutMs));
  if (host.Stat(JoinPath(dir, kLayoutFileName)).ok()) return already();
  PoolLayout layout;
  layout.dir = dir;
  switch (options.backing) {
    case Backing::kAuto: layout.backing_file = !CanReflink(host, dir); break;
    case Backing::kNever: layout.backing_file = false; break;
    case Backing::kAlways: layout.backing_file = true; break;
  }
  layout.data_dir = layout.backing_file ? JoinPath(dir, "data") : dir;
  if (layout.backing_file) {
    layout.backing_size_bytes = options.size_bytes;
    RETURN_IF_ERROR(MakeBacking(host, layout));
  }
  for (const char* sub : {"volumes", "snapshots", "tmp"}) {
    RETURN_IF_ERROR(host.MakeDirectories(JoinPath(layout.data_dir, sub), 0700));
  }
  {
    ASSIGN_OR_RETURN(auto catalog,
                     catalog::Catalog::Open(JoinPath(layout.data_dir, "catalog.db")));
    RETURN_IF_ERROR(
        catalog->PutSetting("overcommit_ratio", fmt::format("{}", options.overcommit_ratio)));
  }
  // pool.json last: its presence means the pool is complete.
  RETURN_IF_ERROR(WriteLayout(host, layout));
  RETURN_IF_ERROR(host.SyncDirectory(dir));
  spdlog::info("initialised pool {} ({})", dir,
               layout.backing_file ? "loop-mounted XFS backing file" : "directly on its filesystem");
  return OpenLocked(host, std::move(layout), std::move(process_lock));
}

StatusOr<std::unique_ptr<Pool>> Pool::Open(host::Host& host, const std::string& dir,
                                           int lock_timeout_ms) {
  if (!IsCleanAbsolutePath(dir)) {
    return absl::InvalidArgumentError(fmt::format(
        "pool directory \"{}\" must be an absolute path without \".\" or \"..\"", dir));
  }
  ASSIGN_OR_RETURN(PoolLayout layout, ReadLayout(host, dir));
  ASSIGN_OR_RETURN(auto process_lock, LockPool(host, dir, lock_timeout_ms));
  return OpenLocked(host, std::move(layout), std::move(process_lock));
}

StatusOr<std::unique_ptr<Pool>> Pool::OpenLocked(host::Host& host, PoolLayout layout,
                                                 std::unique_ptr<host::FileLock> process_lock) {
  if (layout.backing_file) RETURN_IF_ERROR(MountBacking(host, layout));
  for (const char* sub : {"volumes", "snapshots", "tmp"}) {
    RETURN_IF_ERROR(host.MakeDirectories(JoinPath(layout.data_dir, sub), 0700));
  }
  ASSIGN_OR_RETURN(auto catalog, catalog::Catalog::Open(JoinPath(layout.data_dir, "catalog.db")));
  std::unique_ptr<Pool> pool(new Pool(host, std::move(layout), std::move(catalog)));
  pool->process_lock_ = std::move(process_lock);
  pool->reflink_ = CanReflink(host, JoinPath(pool->layout_.data_dir, "tmp"));
  RETURN_IF_ERROR(pool->Recover());
  return pool;
}

StatusOr<std::unique_ptr<Pool>> Pool::OpenOrInit(host::Host& host, const std::string& dir,
                                                 const InitOptions& options) {
  auto pool = Open(host, dir);
  if (!absl::IsFailedPrecondition(pool.status())) return pool;
  pool = Init(host, dir, options);
  // Another process initialised it meanwhile: open theirs.
  if (absl::IsAlreadyExists(pool.status())) return Open(host, dir);
  return pool;
}

Status Pool::Recover() {
  // The catalog is the only record of which images exist. One without the
  // settings Init writes is not this pool's (replaced, or lost and created
  // anew, empty, by SQLite): removing images it has no row for would then
  // destroy every volume, so refuse to open instead.
  ASSIGN_OR_RETURN(auto ratio, catalog_->GetSetting("overcommit_ratio"));
  if (!ratio) {
    size_t images = 0;
    for (const char* kind : {"volumes", "snapshots"}) {
      ASSIGN_OR_RETURN(auto files, host_.ListDirectory(JoinPath(layout_.data_dir, kind)));
      images += files.size();
    }
    if (images > 0) {
      return absl::DataLossError(fmt::format(
          "pool {}: the catalog {} has none of the pool's settings but the pool holds {} "
          "image(s): the catalog was lost or replaced; restore it from a backup (ditto does not "
          "open a pool whose catalog does not know its images)",
          layout_.dir, JoinPath(layout_.data_dir, "catalog.db"), images));
    }
  }
  // Files under tmp/ were never published: nothing refers to them.
  std::string tmp = JoinPath(layout_.data_dir, "tmp");
  ASSIGN_OR_RETURN(auto leftovers, host_.ListDirectory(tmp));
  for (const auto& name : leftovers) {
    spdlog::info("recovery: removing unfinished file tmp/{}", name);
    RETURN_IF_ERROR(RemoveIfPresent(JoinPath(tmp, name)));
  }
  ASSIGN_OR_RETURN(auto volumes, catalog_->ListVolumes());
  for (auto volume : volumes) {
    std::string path = VolumePath(volume.id);
    bool exists = host_.Stat(path).ok();
    switch (volume.state) {
      case catalog::State::kReady:
        if (!exists) spdlog::error("volume {} ({}) has no image at {}", volume.id, volume.name, path);
        break;
      case catalog::State::kCreating:
        if (exists) {  // renamed into place: the work was complete
          volume.state = catalog::State::kReady;
          RETURN_IF_ERROR(catalog_->UpdateVolume(volume));
          spdlog::info("recovery: finished creating volume {} ({})", volume.id, volume.name);
        } else {
          RETURN_IF_ERROR(catalog_->DeleteVolume(volume.id));
          spdlog::info("recovery: rolled back unfinished volume {} ({})", volume.id, volume.name);
        }
        break;
      case catalog::State::kExpanding:
        if (exists) {
          ASSIGN_OR_RETURN(auto info, host_.Stat(path));
          if (info.size < static_cast<uint64_t>(volume.target_capacity_bytes)) {
            RETURN_IF_ERROR(host_.Resize(path, volume.target_capacity_bytes));
          }
          volume.capacity_bytes = volume.target_capacity_bytes;
        }
        volume.target_capacity_bytes = 0;
        volume.state = catalog::State::kReady;
        RETURN_IF_ERROR(catalog_->UpdateVolume(volume));
        spdlog::info("recovery: finished expanding volume {} ({})", volume.id, volume.name);
        break;
      case catalog::State::kDeleting: {
        RETURN_IF_ERROR(RemoveIfPresent(path));
        RETURN_IF_ERROR(catalog_->DeleteVolume(volume.id));
        spdlog::info("recovery: finished deleting volume {} ({})", volume.id, volume.name);
        break;
      }
    }
  }
  ASSIGN_OR_RETURN(auto snapshots, catalog_->ListSnapshots());
  for (auto snapshot : snapshots) {
    std::string path = SnapshotPath(snapshot.id);
    bool exists = host_.Stat(path).ok();
    if (snapshot.state == catalog::State::kCreating && exists) {
      snapshot.state = catalog::State::kReady;
      snapshot.ready_to_use = true;
      RETURN_IF_ERROR(catalog_->UpdateSnapshot(snapshot));
      spdlog::info("recovery: finished snapshot {} ({})", snapshot.id, snapshot.name);
    } else if (snapshot.state == catalog::State::kCreating ||
               snapshot.state == catalog::State::kDeleting) {
      RETURN_IF_ERROR(RemoveIfPresent(path));
      RETURN_IF_ERROR(catalog_->DeleteSnapshot(snapshot.id));
      spdlog::info("recovery: removed unfinished snapshot {} ({})", snapshot.id, snapshot.name);
    } else if (!exists) {
      spdlog::error("snapshot {} ({}) has no image at {}", snapshot.id, snapshot.name, path);
    }
  }
  // Images without a row: a crash between a create's rename and its commit,
  // or between a delete's commit and its unlink.
  // The listings from before the loops serve: a row they removed had its
  // image removed with it (or never had one).
  std::set<std::string> volume_ids, snapshot_ids;
  for (const auto& volume : volumes) volume_ids.insert(volume.id);
  for (const auto& snapshot : snapshots) snapshot_ids.insert(snapshot.id);
  RETURN_IF_ERROR(RemoveOrphanImages("volumes", volume_ids));
  RETURN_IF_ERROR(RemoveOrphanImages("snapshots", snapshot_ids));
  RETURN_IF_ERROR(host_.SyncDirectory(JoinPath(layout_.data_dir, "volumes")));
  return host_.SyncDirectory(JoinPath(layout_.data_dir, "snapshots"));
}

Status Pool::RemoveOrphanImages(const std::string& kind, const std::set<std::string>& ids) {
  std::string dir = JoinPath(layout_.data_dir, kind);
  ASSIGN_OR_RETURN(auto files, host_.ListDirectory(dir));
  for (const auto& file : files) {
    constexpr std::string_view kSuffix = ".img";
    std::string id = file.size() > kSuffix.size() && file.ends_with(kSuffix)
                         ? file.substr(0, file.size() - kSuffix.size())
                         : "";
    bool is_image = kind == "volumes" ? ValidateVolumeId(id).ok() : ValidateSnapshotId(id).ok();
    if (!is_image) {
      spdlog::warn("recovery: {}/{} is not a ditto image; left alone", kind, file);
      continue;
    }
    if (ids.count(id) > 0) continue;
    spdlog::info("recovery: removing {}/{}, an image with no catalog record (an interrupted "
                 "create or delete)", kind, file);
    RETURN_IF_ERROR(RemoveIfPresent(JoinPath(dir, file)));
  }
  return absl::OkStatus();
}

}  // namespace ditto::pool
