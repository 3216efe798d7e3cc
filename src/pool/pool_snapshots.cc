// Snapshots: read-only copies of a volume image, made by the backend.
#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

StatusOr<CreateSnapshotResult> Pool::CreateSnapshot(const std::string& name,
                                                    const std::string& source_volume_id,
                                                    Consistency consistency) {
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateVolumeId(source_volume_id, "source_volume_id"));
  ASSIGN_OR_RETURN(auto hold,
                   locks_.TryAcquire({"snapname:" + name}, {"vol:" + source_volume_id}));
  ASSIGN_OR_RETURN(auto existing, catalog_->FindSnapshotByName(name));
  if (existing) {
    if (existing->source_volume_id != source_volume_id) {
      return absl::AlreadyExistsError(fmt::format(
          "a snapshot named {} already exists of volume {}, not of {}; use another name", name,
          existing->source_volume_id, source_volume_id));
    }
    if (existing->state != catalog::State::kReady) {
      return absl::AbortedError(fmt::format("snapshot {} is still being {}; retry shortly", name,
                                            catalog::StateName(existing->state)));
    }
    return CreateSnapshotResult{*existing, false};
  }
  ASSIGN_OR_RETURN(auto source, GetVolume(source_volume_id));
  ASSIGN_OR_RETURN(uint64_t shared_thick, SharedByCopyOf(source));
  ASSIGN_OR_RETURN(auto space_hold,
                   HoldSpace(shared_thick,
                             fmt::format("a snapshot of thick volume {} (its blocks become "
                                         "shared, and overwriting them takes new ones)",
                                         source_volume_id)));

  catalog::SnapshotRecord record;
  record.id = NewSnapshotId(id_tag_);
  record.name = name;
  record.source_volume_id = source_volume_id;
  record.size_bytes = source.capacity_bytes;
  record.state = catalog::State::kReady;
  record.ready_to_use = true;
  record.created_at_ns = NowNanos();
  ASSIGN_OR_RETURN(auto id_hold, locks_.TryAcquire({"snap:" + record.id}));

  // As for volumes (see pool.h): the image complete and durable first, the
  // catalog row last.
  std::string final_path = SnapshotEntry(record.id);
  std::string temp = CopyEntry(record.id, final_path);
  auto make_snapshot = [&]() -> Status {
    ASSIGN_OR_RETURN(record.clone_method,
                     CloneEntry(VolumeEntry(source_volume_id), temp, record.size_bytes,
                                consistency == Consistency::kCrash ? "" : source_volume_id,
                                "pool.snapshot.frozen", /*snapshot=*/true));
    RETURN_IF_ERROR(Failpoint("pool.snapshot.after_reflink"));
    RETURN_IF_ERROR(PublishImage(temp, final_path));
    RETURN_IF_ERROR(Failpoint("pool.snapshot.after_rename"));
    return catalog_->InsertSnapshot(record);
  };
  Status made = make_snapshot();
  if (!made.ok()) {
    (void)RemoveIfPresent(temp);
    Status removed = RemoveIfPresent(final_path);
    if (!removed.ok()) {
      spdlog::error("cannot roll back snapshot {}: {}; it is removed when the pool is next opened",
                    record.id, std::string(removed.message()));
    }
    return made;
  }
  space_.Track(SnapshotKey(record.id), SnapshotPath(record.id));
  space_.Invalidate(VolumeKey(source_volume_id));  // its blocks are shared now
  spdlog::info("created snapshot {} ({}) of volume {} by {}", record.id, name, source_volume_id,
               record.clone_method);
  return CreateSnapshotResult{record, true};
}

Status Pool::DeleteSnapshot(const std::string& id) {
  RETURN_IF_ERROR(ValidateSnapshotId(id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"snap:" + id}));
  ASSIGN_OR_RETURN(auto record, catalog_->FindSnapshot(id));
  // Already deleted; an image an interrupted delete left goes now.
  if (!record) return RemoveIfPresent(SnapshotEntry(id));
  // The row's removal is the commit point, as for volumes.
  RETURN_IF_ERROR(catalog_->DeleteSnapshot(id));
  space_.Forget(SnapshotKey(id));
  space_.Invalidate(VolumeKey(record->source_volume_id));
  RETURN_IF_ERROR(Failpoint("pool.delete_snapshot.after_commit"));
  RETURN_IF_ERROR(RemoveIfPresent(SnapshotEntry(id)));
  spdlog::info("deleted snapshot {} ({})", id, record->name);
  return absl::OkStatus();
}

StatusOr<catalog::SnapshotRecord> Pool::GetSnapshot(const std::string& id) {
  RETURN_IF_ERROR(ValidateSnapshotId(id));
  ASSIGN_OR_RETURN(auto record, catalog_->FindSnapshot(id));
  if (!record || record->state != catalog::State::kReady) {
    return absl::NotFoundError(fmt::format("snapshot {} does not exist", id));
  }
  return *record;
}

StatusOr<std::optional<catalog::SnapshotRecord>> Pool::FindSnapshotByName(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  return catalog_->FindSnapshotByName(name);
}

StatusOr<std::vector<catalog::SnapshotRecord>> Pool::ListSnapshotsPage(
    const std::optional<catalog::ListPosition>& after, int64_t limit,
    const std::string& source_volume_id) {
  return catalog_->ListSnapshotsAfter(after, limit, source_volume_id);
}

StatusOr<std::vector<catalog::SnapshotRecord>> Pool::ListSnapshots() {
  ASSIGN_OR_RETURN(auto all, catalog_->ListSnapshots());
  std::vector<catalog::SnapshotRecord> ready;
  for (auto& snapshot : all) {
    if (snapshot.state == catalog::State::kReady) ready.push_back(std::move(snapshot));
  }
  return ready;
}

}  // namespace ditto::pool
