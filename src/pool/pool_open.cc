// Pool creation and opening (re-mounting its own filesystem).
#include <unistd.h>

#include <cstdlib>

#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/layout.h"
#include "pool/own_filesystem.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "pool/reflink_files_backend.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

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

// Whether DIR itself can hold the pool's images with `backend`.
bool DirectorySuits(host::Host& host, const std::string& dir, BackendChoice backend) {
  if (backend == BackendChoice::kXfs) return ProbeReflink(host, dir);
  auto fs = host.StatFilesystem(dir);
  return fs.ok() && fs->type == "btrfs";
}

}  // namespace

StatusOr<BackendChoice> ParseBackendChoice(std::string_view text) {
  if (text == "btrfs") return BackendChoice::kBtrfs;
  if (text == "xfs") return BackendChoice::kXfs;
  return absl::InvalidArgumentError(fmt::format(
      "unknown pool backend \"{}\"; use btrfs (subvolume snapshots: clones in constant time) or "
      "xfs (reflinked files)",
      text));
}

StatusOr<BackendChoice> DefaultBackendChoice() {
  const char* env = std::getenv("DITTO_POOL_BACKEND");
  if (env == nullptr || *env == '\0') return BackendChoice::kBtrfs;
  auto choice = ParseBackendChoice(env);
  if (!choice.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("DITTO_POOL_BACKEND: {}", std::string(choice.status().message())));
  }
  return choice;
}

Pool::Pool(host::Host& host, PoolLayout layout, std::unique_ptr<ImageBackend> backend,
           std::unique_ptr<catalog::Catalog> catalog)
    : host_(host),
      layout_(std::move(layout)),
      backend_(std::move(backend)),
      catalog_(std::move(catalog)),
      freeze_limit_(kDefaultFreezeLimit),
      space_([this](const std::string& path) { return ImageSpaceOf(path); }) {}

Pool::~Pool() { StopSpaceRefresh(); }

std::string Pool::VolumeEntry(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "volumes"), backend_->EntryName(id));
}
std::string Pool::SnapshotEntry(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "snapshots"), backend_->EntryName(id));
}
std::string Pool::TempEntry(const std::string& id) const {
  return JoinPath(JoinPath(layout_.data_dir, "tmp"), backend_->EntryName(id));
}
std::string Pool::VolumePath(const std::string& id) const {
  return backend_->ImageIn(VolumeEntry(id));
}
std::string Pool::SnapshotPath(const std::string& id) const {
  return backend_->ImageIn(SnapshotEntry(id));
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
  bool btrfs = options.backend == BackendChoice::kBtrfs;
  PoolLayout layout;
  layout.dir = dir;
  layout.backend = btrfs ? kBtrfsSubvolumesBackend : kReflinkFilesBackend;
  bool own_filesystem = !options.device.empty();
  if (!own_filesystem) {
    switch (options.backing) {
      case Backing::kAuto: own_filesystem = !DirectorySuits(host, dir, options.backend); break;
      case Backing::kNever: own_filesystem = false; break;
      case Backing::kAlways: own_filesystem = true; break;
    }
  }
  layout.data_dir = own_filesystem ? JoinPath(dir, "data") : dir;
  if (own_filesystem) {
    layout.backing_fs = btrfs ? "btrfs" : "xfs";
    layout.device = options.device;
    layout.backing_file = options.device.empty();
    if (layout.backing_file) layout.backing_size_bytes = options.size_bytes;
    RETURN_IF_ERROR(MakeOwnFilesystem(host, layout, options.force));
  } else if (btrfs && !DirectorySuits(host, dir, options.backend)) {
    ASSIGN_OR_RETURN(auto fs, host.StatFilesystem(dir));
    return absl::FailedPreconditionError(fmt::format(
        "{} is on {}, not btrfs: a btrfs pool there needs its own filesystem (let the pool make "
        "a backing file, or give it a --device), or choose --backend xfs",
        dir, fs.type));
  }
  if (btrfs) {
    // The catalog made below inherits no-copy-on-write: SQLite's small
    // rewrites stay in place instead of fragmenting it.
    RETURN_IF_ERROR(host.SetNoCow(layout.data_dir));
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
  spdlog::info("initialised pool {} ({}, {})", dir, layout.backend,
               !layout.device.empty()  ? fmt::format("on device {}", layout.device)
               : layout.backing_file ? fmt::format("in a loop-mounted {} backing file", layout.backing_fs)
                                     : std::string("directly on its filesystem"));
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
  PhaseTimer timer;
  if (layout.backing_file || !layout.device_uuid.empty()) {
    RETURN_IF_ERROR(MountOwnFilesystem(host, layout));
    timer.Lap("mount");
  }
  for (const char* sub : {"volumes", "snapshots", "tmp"}) {
    RETURN_IF_ERROR(host.MakeDirectories(JoinPath(layout.data_dir, sub), 0700));
  }
  ASSIGN_OR_RETURN(auto backend, MakeImageBackend(layout.backend, host));
  RETURN_IF_ERROR(backend->Prepare(layout.data_dir));
  timer.Lap("layout");
  ASSIGN_OR_RETURN(auto catalog, catalog::Catalog::Open(JoinPath(layout.data_dir, "catalog.db")));
  timer.Lap("catalog");
  std::unique_ptr<Pool> pool(
      new Pool(host, std::move(layout), std::move(backend), std::move(catalog)));
  pool->process_lock_ = std::move(process_lock);
  RETURN_IF_ERROR(pool->Recover(timer));
  timer.Lap("recovery's memory freed");
  pool->open_phases_ = std::move(timer);
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

}  // namespace ditto::pool
