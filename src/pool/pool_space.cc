// Space accounting: per-image allocation and sharing (FIEMAP), pool totals
// from the space cache and its background refresh.
#include <algorithm>

#include "fmt/format.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

StatusOr<ImageSpace> Pool::ImageSpaceOf(const std::string& path) {
  ASSIGN_OR_RETURN(auto info, host_.Stat(path));
  ASSIGN_OR_RETURN(auto extents, host_.Extents(path));
  ImageSpace space;
  space.size_bytes = info.size;
  space.extent_count = extents.size();
  for (const auto& extent : extents) {
    space.allocated_bytes += extent.length;
    if (extent.shared) space.shared_bytes += extent.length;
  }
  space.exclusive_bytes = space.allocated_bytes - space.shared_bytes;
  return space;
}

StatusOr<ImageSpace> Pool::VolumeSpace(const std::string& id) {
  ASSIGN_OR_RETURN(auto record, GetVolume(id));
  return ImageSpaceOf(VolumePath(record.id));
}

StatusOr<ImageSpace> Pool::SnapshotSpace(const std::string& id) {
  ASSIGN_OR_RETURN(auto record, GetSnapshot(id));
  return ImageSpaceOf(SnapshotPath(record.id));
}

std::string Pool::SourceKey(const catalog::VolumeRecord& volume) {
  if (volume.source_id.empty()) return "";
  return volume.source_kind == "snapshot" ? SnapshotKey(volume.source_id)
                                          : VolumeKey(volume.source_id);
}

void Pool::NoteVolume(const catalog::VolumeRecord& volume) {
  space_.Track(VolumeKey(volume.id), VolumePath(volume.id), volume.thick,
               static_cast<uint64_t>(std::max(volume.capacity_bytes, volume.target_capacity_bytes)));
}

Status Pool::LoadSpaceCache() {
  std::lock_guard lock(space_load_mu_);
  if (space_loaded_) return absl::OkStatus();
  // Rows a concurrent delete removes meanwhile are tracked here anyway: their
  // measurement finds no image and forgets them. Read in pages: each page
  // holds the catalog's reader only briefly, so requests (Probe's included)
  // are not kept waiting behind 100k rows.
  constexpr int64_t kPage = 1000;
  std::optional<catalog::ListPosition> after;
  while (true) {
    ASSIGN_OR_RETURN(auto volumes, catalog_->ListVolumesAfter(after, kPage));
    for (const auto& volume : volumes) NoteVolume(volume);
    if (volumes.size() < static_cast<size_t>(kPage)) break;
    after = catalog::ListPosition{volumes.back().created_at_ns, volumes.back().id};
  }
  after.reset();
  while (true) {
    ASSIGN_OR_RETURN(auto snapshots, catalog_->ListSnapshotsAfter(after, kPage, ""));
    for (const auto& snapshot : snapshots) {
      space_.Track(SnapshotKey(snapshot.id), SnapshotPath(snapshot.id));
    }
    if (snapshots.size() < static_cast<size_t>(kPage)) break;
    after = catalog::ListPosition{snapshots.back().created_at_ns, snapshots.back().id};
  }
  space_loaded_ = true;
  return absl::OkStatus();
}

Status Pool::RefreshSpace(size_t budget) {
  RETURN_IF_ERROR(LoadSpaceCache());
  size_t waiting = space_.totals().unmeasured;
  space_.Refresh(budget == 0 ? 0 : waiting + budget);
  return absl::OkStatus();
}

Status Pool::StartSpaceRefresh(std::chrono::milliseconds period, std::chrono::milliseconds tick) {
  if (period.count() <= 0 || tick.count() <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("space refresh period ({} ms) and tick ({} ms) must be positive",
                    period.count(), tick.count()));
  }
  std::lock_guard lock(refresh_mu_);
  if (refresher_.joinable()) {
    return absl::FailedPreconditionError("the pool's space refresh is already running");
  }
  refresh_stop_ = false;
  refresher_ = std::thread([this, period, tick] { RefreshSpaceLoop(period, tick); });
  return absl::OkStatus();
}

void Pool::StopSpaceRefresh() {
  std::thread refresher;
  {
    std::lock_guard lock(refresh_mu_);
    refresh_stop_ = true;
    refresher.swap(refresher_);
  }
  refresh_cv_.notify_all();
  if (refresher.joinable()) refresher.join();
}

void Pool::RefreshSpaceLoop(std::chrono::milliseconds period, std::chrono::milliseconds tick) {
  // In rounds of this many images, so that a stop never waits for a whole
  // pass (the first one measures every image).
  constexpr size_t kRound = 1000;
  auto stopping = [this] {
    std::lock_guard lock(refresh_mu_);
    return refresh_stop_;
  };
  bool first_pass = true;  // measures every image: no cycle after it
  while (true) {
    Status loaded = LoadSpaceCache();
    if (!loaded.ok()) {
      spdlog::warn("space figures of pool {} not refreshed: {}", layout_.dir,
                   std::string(loaded.message()));
    } else {
      // The changed and unmeasured images (every one, the first time)...
      // Never more than are waiting (the others wait for their turn below),
      // and at most as many rounds as were waiting at the start.
      const uint64_t waiting_at_start = space_.totals().unmeasured;
      for (uint64_t rounds = (waiting_at_start + kRound - 1) / kRound; rounds > 0 && !stopping();
           --rounds) {
        const uint64_t waiting = space_.totals().unmeasured;
        if (waiting == 0 || space_.Refresh(std::min<uint64_t>(waiting, kRound)) == 0) break;
      }
      // ...then images x tick / period of the others: each once per period.
      uint64_t per_tick = (space_.totals().images * static_cast<uint64_t>(tick.count()) +
                           static_cast<uint64_t>(period.count()) - 1) /
                          static_cast<uint64_t>(period.count());
      if (per_tick > 0 && !first_pass && !stopping()) space_.Refresh(per_tick);
      first_pass = false;
    }
    std::unique_lock lock(refresh_mu_);
    if (refresh_cv_.wait_for(lock, tick, [this] { return refresh_stop_; })) return;
  }
}

StatusOr<PoolStatus> Pool::GetStatus() {
  PoolStatus status;
  status.layout = layout_;
  status.backend = std::string(backend_->name());
  status.reflink = backend_->shares_blocks();
  ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(layout_.data_dir));
  status.fs_type = fs.type;
  status.capacity_bytes = fs.capacity_bytes;
  status.used_bytes = fs.capacity_bytes - fs.free_bytes;
  status.free_bytes = fs.available_bytes;
  ASSIGN_OR_RETURN(catalog::Catalog::Counts counts, catalog_->CountRecords());
  status.volume_count = static_cast<uint64_t>(counts.volumes);
  status.snapshot_count = static_cast<uint64_t>(counts.snapshots);
  status.provisioned_bytes = static_cast<uint64_t>(counts.provisioned_bytes);
  bool background;
  {
    std::lock_guard lock(refresh_mu_);
    background = refresher_.joinable();
  }
  // Without the background refresh, every image is measured now.
  if (!background) RETURN_IF_ERROR(RefreshSpace(0));
  SpaceCache::Totals totals = space_.totals();
  status.shared_bytes = totals.shared_bytes;
  status.reserved_bytes = totals.reserved_bytes;
  status.unmeasured_images = totals.unmeasured;
  ASSIGN_OR_RETURN(auto ratio, catalog_->GetSetting("overcommit_ratio"));
  status.overcommit_ratio = ratio ? std::strtod(ratio->c_str(), nullptr) : 10.0;
  return status;
}

StatusOr<uint64_t> Pool::FreeBytes() {
  ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(layout_.data_dir));
  return fs.available_bytes;
}

Status Pool::SetOvercommitRatio(double ratio) {
  if (!(ratio > 0) || ratio > 1000) {
    return absl::InvalidArgumentError(
        fmt::format("overcommit ratio {} is out of range; use a number above 0 and at most 1000",
                    ratio));
  }
  return catalog_->PutSetting("overcommit_ratio", fmt::format("{}", ratio));
}

}  // namespace ditto::pool
