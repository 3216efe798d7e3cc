// The btrfs-subvolumes backend: each image in a subvolume of its own, cloned
// by snapshotting the subvolume.
#include "pool/btrfs_subvolumes_backend.h"

#include <chrono>

#include "fmt/format.h"
#include "pool/path.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

// Commits after a delete, spaced out: deleted blocks are freed by btrfs's
// cleaner once a commit wakes it, and show as free after the next commit.
constexpr int kSettleCommits = 6;
constexpr auto kFirstSettleDelay = std::chrono::milliseconds(250);

}  // namespace

BtrfsSubvolumesBackend::BtrfsSubvolumesBackend(host::Host& host)
    : host_(host), settler_([this] { SettleLoop(); }) {}

BtrfsSubvolumesBackend::~BtrfsSubvolumesBackend() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  settler_.join();
}

Status BtrfsSubvolumesBackend::Prepare(const std::string& data_dir) {
  ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(data_dir));
  if (fs.type != "btrfs") {
    return absl::FailedPreconditionError(fmt::format(
        "{} is a btrfs-subvolumes pool but its data directory is on {}, not btrfs; mount the "
        "pool's btrfs filesystem there (or make a pool with --backend xfs)",
        data_dir, fs.type));
  }
  std::lock_guard lock(mu_);
  data_dir_ = data_dir;
  return absl::OkStatus();
}

std::string BtrfsSubvolumesBackend::ImageIn(const std::string& entry_path) const {
  return JoinPath(entry_path, kSubvolumeImageName);
}

Status BtrfsSubvolumesBackend::CreateEmpty(const std::string& entry_path, uint64_t size,
                                           bool thick) {
  RETURN_IF_ERROR(host_.CreateSubvolume(entry_path));
  // Before the image's first byte: it inherits no-copy-on-write, so writes to
  // blocks no snapshot shares happen in place.
  RETURN_IF_ERROR(host_.SetNoCow(entry_path));
  std::string image = ImageIn(entry_path);
  RETURN_IF_ERROR(host_.CreateSparseFile(image, size));
  if (thick) RETURN_IF_ERROR(host_.Allocate(image, 0, size));  // both fsync
  return absl::OkStatus();
}

Status BtrfsSubvolumesBackend::SnapshotFrozen(const std::string& source_entry,
                                              const std::string& entry_path, bool read_only,
                                              const FrozenRunner& frozen) {
  // The snapshot is made in a transaction commit: whole and durable when the
  // ioctl returns, at its final path (copies_in_place). A commit first, while
  // the source's application still runs, leaves the snapshot's own commit
  // (inside the freeze) little to write.
  auto commit = [&] {
    Status committed = host_.SyncFilesystem(source_entry);
    if (!committed.ok()) {
      spdlog::warn("cannot commit {} before snapshotting it: {}", source_entry,
                   std::string(committed.message()));
    }
  };
  return frozen(commit,
                [&] { return host_.SnapshotSubvolume(source_entry, entry_path, read_only); });
}

StatusOr<std::string> BtrfsSubvolumesBackend::Snapshot(const std::string& source_entry,
                                                       const std::string& entry_path,
                                                       uint64_t size, const FrozenRunner& frozen) {
  RETURN_IF_ERROR(SnapshotFrozen(source_entry, entry_path, /*read_only=*/true, frozen));
  ASSIGN_OR_RETURN(auto info, host_.Stat(ImageIn(entry_path)));
  if (info.size < size) {
    return absl::InternalError(fmt::format(
        "the image of {} is {} bytes, smaller than the {} its catalog row records: the "
        "pool's catalog and images disagree; nothing was snapshotted, report this with dittod's log",
        source_entry, info.size, size));
  }
  return std::string("subvolume-snapshot");
}

StatusOr<std::string> BtrfsSubvolumesBackend::Clone(const std::string& source_entry,
                                                    const std::string& entry_path, uint64_t size,
                                                    const FrozenRunner& frozen) {
  RETURN_IF_ERROR(SnapshotFrozen(source_entry, entry_path, /*read_only=*/false, frozen));
  std::string image = ImageIn(entry_path);
  ASSIGN_OR_RETURN(auto info, host_.Stat(image));
  if (info.size < size) RETURN_IF_ERROR(host_.Resize(image, size));
  return std::string("subvolume-snapshot");
}

Status BtrfsSubvolumesBackend::Seal(const std::string& entry_path) {
  RETURN_IF_ERROR(host_.SetMode(ImageIn(entry_path), 0444));
  RETURN_IF_ERROR(host_.MakeSubvolumeReadOnly(entry_path));
  return host_.SyncFilesystem(entry_path);  // the flag lives in the root item: commit it
}

Status BtrfsSubvolumesBackend::Remove(const std::string& entry_path) {
  ASSIGN_OR_RETURN(auto info, host_.Stat(entry_path));
  if (!info.is_directory) return host_.Remove(entry_path);
  ASSIGN_OR_RETURN(bool subvolume, host_.IsSubvolume(entry_path));
  if (!subvolume) {  // not made by this backend; remove what an image entry holds
    Status removed = host_.Remove(ImageIn(entry_path));
    if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
    return host_.Remove(entry_path);
  }
  RETURN_IF_ERROR(host_.DeleteSubvolume(entry_path));
  {
    std::lock_guard lock(mu_);
    settle_rounds_ = kSettleCommits;
  }
  wake_.notify_all();
  return absl::OkStatus();
}

void BtrfsSubvolumesBackend::SettleLoop() {
  std::unique_lock lock(mu_);
  auto delay = kFirstSettleDelay;
  while (!stopping_) {
    if (settle_rounds_ == 0) {
      wake_.wait(lock, [&] { return stopping_ || settle_rounds_ > 0; });
      delay = kFirstSettleDelay;
      continue;
    }
    int rounds = settle_rounds_;
    if (wake_.wait_for(lock, delay, [&] { return stopping_ || settle_rounds_ > rounds; })) {
      delay = kFirstSettleDelay;  // another delete: start the series again
      continue;
    }
    --settle_rounds_;
    delay *= 2;
    std::string dir = data_dir_;
    lock.unlock();
    if (!dir.empty()) {
      Status synced = host_.SyncFilesystem(dir);
      if (!synced.ok()) spdlog::warn("cannot commit {}: {}", dir, std::string(synced.message()));
    }
    lock.lock();
  }
}

}  // namespace ditto::pool
