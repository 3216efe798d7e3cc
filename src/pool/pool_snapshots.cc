// Snapshots: read-only reflinks of a volume image.
#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "fmt/format.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

StatusOr<CreateSnapshotResult> Pool::CreateSnapshot(const std::string& name,
                                                    const std::string& source_volume_id) {
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

  catalog::SnapshotRecord record;
  record.id = NewSnapshotId();
  record.name = name;
  record.source_volume_id = source_volume_id;
  record.size_bytes = source.capacity_bytes;
  record.state = catalog::State::kCreating;
  record.created_at_ns = NowNanos();
  RETURN_IF_ERROR(catalog_->InsertSnapshot(record));

  std::string temp = TempPath(record.id);
  auto make_image = [&]() -> Status {
    RETURN_IF_ERROR(Failpoint("pool.snapshot.after_intent"));
    ASSIGN_OR_RETURN(record.clone_method,
                     CopyImage(VolumePath(source_volume_id), temp, record.size_bytes,
                               source_volume_id));
    RETURN_IF_ERROR(host_.SetMode(temp, 0444));
    RETURN_IF_ERROR(Failpoint("pool.snapshot.after_reflink"));
    RETURN_IF_ERROR(PublishImage(temp, SnapshotPath(record.id)));
    return Failpoint("pool.snapshot.after_rename");
  };
  Status made = make_image();
  if (!made.ok()) {
    (void)host_.Remove(temp);
    (void)host_.Remove(SnapshotPath(record.id));
    (void)catalog_->DeleteSnapshot(record.id);
    return made;
  }
  record.state = catalog::State::kReady;
  record.ready_to_use = true;
  RETURN_IF_ERROR(catalog_->UpdateSnapshot(record));
  spdlog::info("created snapshot {} ({}) of volume {} by {}", record.id, name, source_volume_id,
               record.clone_method);
  return CreateSnapshotResult{record, true};
}

Status Pool::DeleteSnapshot(const std::string& id) {
  RETURN_IF_ERROR(ValidateSnapshotId(id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"snap:" + id}));
  ASSIGN_OR_RETURN(auto record, catalog_->FindSnapshot(id));
  if (!record) return absl::OkStatus();
  record->state = catalog::State::kDeleting;
  RETURN_IF_ERROR(catalog_->UpdateSnapshot(*record));
  RETURN_IF_ERROR(Failpoint("pool.delete_snapshot.after_intent"));
  Status removed = host_.Remove(SnapshotPath(id));
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  RETURN_IF_ERROR(host_.SyncDirectory(JoinPath(layout_.data_dir, "snapshots")));
  RETURN_IF_ERROR(Failpoint("pool.delete_snapshot.after_unlink"));
  RETURN_IF_ERROR(catalog_->DeleteSnapshot(id));
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

StatusOr<std::vector<catalog::SnapshotRecord>> Pool::ListSnapshots() {
  ASSIGN_OR_RETURN(auto all, catalog_->ListSnapshots());
  std::vector<catalog::SnapshotRecord> ready;
  for (auto& snapshot : all) {
    if (snapshot.state == catalog::State::kReady) ready.push_back(std::move(snapshot));
  }
  return ready;
}

}  // namespace ditto::pool
