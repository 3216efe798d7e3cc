// Imports: volumes whose image is written by the caller (a copy from another
// node), published like any new volume: image durable and renamed into
// place first, catalog row last (see pool.h).
#include "common/clock.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {

StatusOr<std::string> Pool::BeginImport(const std::string& volume_id, uint64_t size,
                                        const std::string& base_snapshot_id) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id));
  if (size == 0 || size > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        fmt::format("an imported volume needs a size between 1 byte and 2^63-1 (got {})", size));
  }
  std::vector<std::string> shared;
  if (!base_snapshot_id.empty()) {
    RETURN_IF_ERROR(ValidateSnapshotId(base_snapshot_id, "base snapshot_id"));
    shared.push_back("snap:" + base_snapshot_id);
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + volume_id}, shared));
  std::string temp = TempEntry(volume_id);
  std::string image = backend_->ImageIn(temp);
  auto info = host_.Stat(image);
  if (info.ok()) {
    if (info->is_regular && info->size == size) return image;  // resumed
    // Another size: what an earlier attempt made is of no use.
    RETURN_IF_ERROR(RemoveIfPresent(temp));
  } else if (!absl::IsNotFound(info.status())) {
    return info.status();
  } else if (host_.Stat(temp).ok()) {
    RETURN_IF_ERROR(RemoveIfPresent(temp));  // an entry without its image
  }
  if (base_snapshot_id.empty()) {
    RETURN_IF_ERROR(backend_->CreateEmpty(temp, size, /*thick=*/false));
    return image;
  }
  ASSIGN_OR_RETURN(auto base, GetSnapshot(base_snapshot_id));
  if (static_cast<uint64_t>(base.size_bytes) > size) {
    return absl::OutOfRangeError(fmt::format(
        "snapshot {} ({} bytes) cannot start an import of {} bytes; copy the whole image instead",
        base_snapshot_id, base.size_bytes, size));
  }
  // Unmounted and unstaged: nothing to freeze.
  // (No failpoint: a crash leaves only tmp/, which the next open empties.)
  Status cloned = CloneEntry(SnapshotEntry(base_snapshot_id), temp, size, /*frozen_volume_id=*/"",
                             /*failpoint=*/"")
                      .status();
  if (!cloned.ok()) {
    (void)RemoveIfPresent(temp);
    return cloned;
  }
  return image;
}

StatusOr<std::vector<catalog::SnapshotRecord>> Pool::ListCopiedSnapshots() {
  return catalog_->ListCopiedSnapshots();
}

StatusOr<catalog::SnapshotRecord> Pool::MakeImportBase(const std::string& temp,
                                                       const std::string& volume_id,
                                                       const std::string& origin_id,
                                                       uint64_t size) {
  catalog::SnapshotRecord base;
  base.id = NewSnapshotId(id_tag_);
  base.name = "base-of-" + volume_id;
  base.source_volume_id = volume_id;
  base.size_bytes = static_cast<int64_t>(size);
  base.ready_to_use = true;
  base.state = catalog::State::kReady;
  base.origin_id = origin_id;
  base.created_at_ns = NowNanos();
  std::string final_path = SnapshotEntry(base.id);
  std::string base_temp = CopyEntry(base.id, final_path);
  auto make = [&]() -> Status {
    ASSIGN_OR_RETURN(base.clone_method, CloneEntry(temp, base_temp, size, /*frozen_volume_id=*/"",
                                                   /*failpoint=*/"", /*snapshot=*/true));
    return PublishImage(base_temp, final_path);
  };
  Status made = make();
  if (!made.ok()) {
    (void)RemoveIfPresent(base_temp);
    (void)RemoveIfPresent(final_path);
    return made;
  }
  return base;
}

Status Pool::AbandonImport(const std::string& volume_id) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + volume_id}));
  return RemoveIfPresent(TempEntry(volume_id));
}

StatusOr<CreateVolumeResult> Pool::FinishImport(const std::string& volume_id,
                                                const CreateVolumeSpec& spec) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id));
  RETURN_IF_ERROR(ValidateName(spec.name));
  if (spec.capacity_bytes == 0 || spec.capacity_bytes > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        fmt::format("volume {} needs a capacity between 1 byte and 2^63-1", spec.name));
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"name:" + spec.name, "vol:" + volume_id}));
  std::string temp = TempEntry(volume_id);
  ASSIGN_OR_RETURN(auto existing, catalog_->FindVolumeByName(spec.name));
  if (existing && existing->state == catalog::State::kReady) {
    if (existing->source_id != spec.source_id ||
        static_cast<uint64_t>(existing->capacity_bytes) != spec.capacity_bytes) {
      return absl::AlreadyExistsError(fmt::format(
          "a volume named {} already exists ({}, {} of {}) and is not the copy of {} this "
          "request asks for; use another name or delete the existing volume",
          spec.name, existing->id, FormatQuantity(existing->capacity_bytes),
          existing->source_id.empty() ? "no source" : existing->source_id, spec.source_id));
    }
    (void)RemoveIfPresent(temp);
    return CreateVolumeResult{*existing, false};
  }
  if (existing) {
    return absl::AbortedError(fmt::format("volume {} is still being {}; retry shortly", spec.name,
                                          catalog::StateName(existing->state)));
  }
  std::string image = backend_->ImageIn(temp);
  ASSIGN_OR_RETURN(auto info, host_.Stat(image));
  if (info.size != spec.capacity_bytes) {
    return absl::FailedPreconditionError(fmt::format(
        "the imported image of {} is {} bytes, not the {} asked for; abandon the import and "
        "start it again",
        volume_id, info.size, spec.capacity_bytes));
  }
  ASSIGN_OR_RETURN(auto reservation, ReserveCapacity(spec.capacity_bytes));
  ASSIGN_OR_RETURN(auto space_hold,
                   HoldSpace(spec.thick ? spec.capacity_bytes : 0,
                             fmt::format("thick volume {} (copied from {})", spec.name,
                                         spec.source_id)));

  catalog::VolumeRecord record;
  record.id = volume_id;
  record.name = spec.name;
  record.capacity_bytes = static_cast<int64_t>(spec.capacity_bytes);
  record.mode_hint = spec.mode_hint;
  record.fs_type = spec.fs_type;
  record.parameters = spec.parameters;
  record.source_kind = spec.source_kind == SourceKind::kVolume     ? "volume"
                       : spec.source_kind == SourceKind::kSnapshot ? "snapshot"
                                                                   : "";
  record.source_id = spec.source_id;
  record.clone_method = "peer-copy";
  record.thick = spec.thick;
  record.state = catalog::State::kReady;
  record.created_at_ns = record.updated_at_ns = NowNanos();

  std::string final_path = VolumeEntry(volume_id);
  std::optional<catalog::SnapshotRecord> base;
  auto publish = [&]() -> Status {
    if (spec.thick) {
      RETURN_IF_ERROR(host_.AllocateUnshared(image, 0, spec.capacity_bytes));
    }
    RETURN_IF_ERROR(host_.SyncFile(image));
    // The base is made while nothing else can write the image. A crash
    // before the rows leaves images without rows, which Open() removes.
    if (spec.source_kind == SourceKind::kSnapshot && !spec.thick) {
      auto made = MakeImportBase(temp, volume_id, spec.source_id, spec.capacity_bytes);
      if (made.ok()) {
        base = std::move(*made);
      } else {
        spdlog::warn("volume {} keeps no base for incremental copies of {}'s lineage: {}",
                     volume_id, spec.source_id, std::string(made.status().message()));
      }
    }
    RETURN_IF_ERROR(PublishImage(temp, final_path));
    return catalog_->InsertVolume(record);
  };
  Status made = publish();
  if (!made.ok()) {
    Status removed = RemoveIfPresent(final_path);
    (void)RemoveIfPresent(temp);
    if (base) (void)RemoveIfPresent(SnapshotEntry(base->id));
    if (!removed.ok()) {
      spdlog::error("cannot roll back volume {}: {}; it is removed when the pool is next opened",
                    volume_id, std::string(removed.message()));
    }
    return made;
  }
  NoteVolume(record);  // into the space figures, like every other new volume
  if (base) {
    Status inserted = catalog_->InsertSnapshot(*base);
    if (inserted.ok()) {
      space_.Track(SnapshotKey(base->id), SnapshotPath(base->id));
      spdlog::info("kept snapshot {} of volume {} as the base of later copies of {}'s lineage",
                   base->id, volume_id, spec.source_id);
    } else {
      (void)RemoveIfPresent(SnapshotEntry(base->id));
      spdlog::warn("volume {} keeps no base for incremental copies of {}'s lineage: {}",
                   volume_id, spec.source_id, std::string(inserted.message()));
    }
  }
  spdlog::info("created volume {} ({}, {}, copied from {} {})", record.id, record.name,
               FormatQuantity(spec.capacity_bytes), record.source_kind, record.source_id);
  return CreateVolumeResult{record, true};
}

}  // namespace ditto::pool
