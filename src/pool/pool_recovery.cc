// Crash recovery at open: thaw what a crash left frozen, finish or roll back
// interrupted operations, remove entries no catalog row names.
#include <unordered_set>

#include "common/ids.h"
#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

Status Pool::Recover(PhaseTimer& timer) {
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
  ASSIGN_OR_RETURN(int thawed, ThawStagedFilesystems(host_, *catalog_));
  if (thawed > 0) spdlog::warn("recovery: thawed {} filesystem(s) a crash left frozen", thawed);
  timer.Lap("thaw");
  // Entries under tmp/ were never published: nothing refers to them.
  std::string tmp = JoinPath(layout_.data_dir, "tmp");
  ASSIGN_OR_RETURN(auto leftovers, host_.ListDirectory(tmp));
  for (const auto& name : leftovers) {
    spdlog::info("recovery: removing unfinished image tmp/{}", name);
    RETURN_IF_ERROR(RemoveIfPresent(JoinPath(tmp, name)));
  }
  timer.Lap("tmp cleanup");
  // Which images exist: one listing of each directory, and of the catalog
  // only the IDs and the rows whose operation a crash interrupted, so that
  // opening a pool of 100k volumes costs two directory reads and an index
  // scan, not a stat and a parsed row per volume.
  const std::string volumes_dir = JoinPath(layout_.data_dir, "volumes");
  const std::string snapshots_dir = JoinPath(layout_.data_dir, "snapshots");
  ASSIGN_OR_RETURN(auto volume_files, host_.ListDirectory(volumes_dir));
  ASSIGN_OR_RETURN(auto snapshot_files, host_.ListDirectory(snapshots_dir));
  std::unordered_set<std::string> volume_images, snapshot_images;
  volume_images.reserve(volume_files.size());
  snapshot_images.reserve(snapshot_files.size());
  for (const auto& file : volume_files) volume_images.insert(backend_->IdOfEntry(file));
  for (const auto& file : snapshot_files) snapshot_images.insert(backend_->IdOfEntry(file));
  timer.Lap("image listing");
  ASSIGN_OR_RETURN(auto volume_id_list, catalog_->ListVolumeIds());
  ASSIGN_OR_RETURN(auto snapshot_id_list, catalog_->ListSnapshotIds());
  std::unordered_set<std::string> volume_ids(volume_id_list.begin(), volume_id_list.end());
  std::unordered_set<std::string> snapshot_ids(snapshot_id_list.begin(), snapshot_id_list.end());
  timer.Lap("catalog IDs");

  ASSIGN_OR_RETURN(auto unsettled_volumes, catalog_->ListUnsettledVolumes());
  std::unordered_set<std::string> unsettled;
  for (auto volume : unsettled_volumes) {
    unsettled.insert(volume.id);
    std::string path = VolumePath(volume.id);
    bool exists = host_.Stat(path).ok();
    switch (volume.state) {
      case catalog::State::kReady:
        break;  // not listed here
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
        RETURN_IF_ERROR(RemoveIfPresent(VolumeEntry(volume.id)));
        RETURN_IF_ERROR(catalog_->DeleteVolume(volume.id));
        spdlog::info("recovery: finished deleting volume {} ({})", volume.id, volume.name);
        break;
      }
    }
  }
  for (const auto& id : volume_id_list) {
    if (volume_images.count(id) > 0 || unsettled.count(id) > 0) continue;
    ASSIGN_OR_RETURN(auto volume, catalog_->FindVolume(id));
    if (volume) {
      spdlog::error("volume {} ({}) has no image at {}", id, volume->name, VolumePath(id));
    }
  }
  ASSIGN_OR_RETURN(auto unsettled_snapshots, catalog_->ListUnsettledSnapshots());
  unsettled.clear();
  for (auto snapshot : unsettled_snapshots) {
    unsettled.insert(snapshot.id);
    std::string path = SnapshotPath(snapshot.id);
    bool exists = host_.Stat(path).ok();
    if (snapshot.state == catalog::State::kCreating && exists) {
      snapshot.state = catalog::State::kReady;
      snapshot.ready_to_use = true;
      RETURN_IF_ERROR(catalog_->UpdateSnapshot(snapshot));
      spdlog::info("recovery: finished snapshot {} ({})", snapshot.id, snapshot.name);
    } else if (snapshot.state == catalog::State::kCreating ||
               snapshot.state == catalog::State::kDeleting) {
      RETURN_IF_ERROR(RemoveIfPresent(SnapshotEntry(snapshot.id)));
      RETURN_IF_ERROR(catalog_->DeleteSnapshot(snapshot.id));
      spdlog::info("recovery: removed unfinished snapshot {} ({})", snapshot.id, snapshot.name);
    } else if (!exists) {
      spdlog::error("snapshot {} ({}) has no image at {}", snapshot.id, snapshot.name, path);
    }
  }
  for (const auto& id : snapshot_id_list) {
    if (snapshot_images.count(id) > 0 || unsettled.count(id) > 0) continue;
    ASSIGN_OR_RETURN(auto snapshot, catalog_->FindSnapshot(id));
    if (snapshot) {
      spdlog::error("snapshot {} ({}) has no image at {}", id, snapshot->name, SnapshotPath(id));
    }
  }
  timer.Lap("unsettled rows");
  // Images without a row: a crash between a create's rename and its commit,
  // or between a delete's commit and its unlink.
  // The listings from before the loops serve: a row they removed had its
  // image removed with it (or never had one).
  RETURN_IF_ERROR(RemoveOrphanImages("volumes", volume_files, volume_ids));
  RETURN_IF_ERROR(RemoveOrphanImages("snapshots", snapshot_files, snapshot_ids));
  timer.Lap("orphans");
  RETURN_IF_ERROR(host_.SyncDirectory(volumes_dir));
  RETURN_IF_ERROR(host_.SyncDirectory(snapshots_dir));
  timer.Lap("directory sync");
  return absl::OkStatus();
}

Status Pool::RemoveOrphanImages(const std::string& kind, const std::vector<std::string>& files,
                                const std::unordered_set<std::string>& ids) {
  std::string dir = JoinPath(layout_.data_dir, kind);
  for (const auto& file : files) {
    std::string id = backend_->IdOfEntry(file);
    if (ids.count(id) > 0) continue;  // first: the catalog's IDs are valid ones
    bool is_image = kind == "volumes" ? IsValidVolumeId(id) : IsValidSnapshotId(id);
    if (!is_image) {
      spdlog::warn("recovery: {}/{} is not a ditto image; left alone", kind, file);
      continue;
    }
    spdlog::info("recovery: removing {}/{}, an image with no catalog record (an interrupted "
                 "create or delete)", kind, file);
    RETURN_IF_ERROR(RemoveIfPresent(JoinPath(dir, file)));
  }
  return absl::OkStatus();
}

}  // namespace ditto::pool
