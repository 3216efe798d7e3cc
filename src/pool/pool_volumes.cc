// Volumes: create (empty, clone, restore), expand, delete.
#include <map>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

std::string SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kVolume: return "volume";
    case SourceKind::kSnapshot: return "snapshot";
    case SourceKind::kNone: break;
  }
  return "";
}

// Why an existing volume of the same name does not match a repeated request,
// or "" when it does (then the repeat returns it).
std::string Mismatch(const catalog::VolumeRecord& existing, const CreateVolumeSpec& spec) {
  if (spec.capacity_bytes != 0 && static_cast<int64_t>(spec.capacity_bytes) != existing.capacity_bytes) {
    return fmt::format("capacity {} differs from its {}", FormatQuantity(spec.capacity_bytes),
                       FormatQuantity(existing.capacity_bytes));
  }
  if (SourceKindName(spec.source_kind) != existing.source_kind || spec.source_id != existing.source_id) {
    return fmt::format("content source \"{} {}\" differs from its \"{} {}\"",
                       SourceKindName(spec.source_kind), spec.source_id, existing.source_kind,
                       existing.source_id);
  }
  if (spec.mode_hint != existing.mode_hint) {
    return fmt::format("access type \"{}\" differs from its \"{}\"", spec.mode_hint, existing.mode_hint);
  }
  if (spec.fs_type != existing.fs_type) {
    return fmt::format("fs_type \"{}\" differs from its \"{}\"", spec.fs_type, existing.fs_type);
  }
  if (spec.thick != existing.thick) return "thick provisioning differs";
  if (spec.parameters != existing.parameters) return "parameters differ";
  return "";
}

}  // namespace

Pool::Reservation::~Reservation() {
  std::lock_guard lock(pool_.reserve_mu_);
  pool_.reserved_bytes_ -= bytes_;
}

StatusOr<std::unique_ptr<Pool::Reservation>> Pool::ReserveCapacity(uint64_t additional_bytes) {
  ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(layout_.data_dir));
  ASSIGN_OR_RETURN(auto ratio_text, catalog_->GetSetting("overcommit_ratio"));
  double ratio = ratio_text ? std::strtod(ratio_text->c_str(), nullptr) : 10.0;
  // Listing and reserving under one lock: two requests cannot both see room
  // that only one of them fits in.
  std::lock_guard lock(reserve_mu_);
  ASSIGN_OR_RETURN(int64_t recorded, catalog_->ProvisionedBytes());
  long double provisioned =
      static_cast<long double>(additional_bytes) + reserved_bytes_ + recorded;
  long double allowed = static_cast<long double>(fs.capacity_bytes) * ratio;
  if (provisioned > allowed) {
    return absl::ResourceExhaustedError(fmt::format(
        "provisioning {} more would commit {} of the {} this pool allows (overcommit ratio {} x "
        "capacity {}); delete volumes, grow the pool, or raise the ratio with `dittoctl pool "
        "set-overcommit {} RATIO`",
        HumanBytes(additional_bytes), HumanBytes(static_cast<uint64_t>(provisioned)),
        HumanBytes(static_cast<uint64_t>(allowed)), ratio, HumanBytes(fs.capacity_bytes),
        layout_.dir));
  }
  reserved_bytes_ += additional_bytes;
  return std::make_unique<Reservation>(*this, additional_bytes);
}

Status Pool::RemoveIfPresent(const std::string& path) {
  Status removed = backend_->Remove(path);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return absl::OkStatus();
}

StatusOr<std::string> Pool::CloneEntry(const std::string& source_entry,
                                       const std::string& entry, uint64_t size,
                                       const std::string& frozen_volume_id,
                                       std::string_view failpoint, bool snapshot) {
  std::string mount_point;
  if (!frozen_volume_id.empty()) {
    ASSIGN_OR_RETURN(auto stage, catalog_->FindStage(frozen_volume_id));
    if (stage && !stage->block) mount_point = stage->staging_path;
  }
  FrozenRunner frozen = [&](const std::function<void()>& prepare,
                            const std::function<Status()>& step) {
    return RunFrozen(host_, mount_point, freeze_limit_, failpoint, prepare, step);
  };
  return snapshot ? backend_->Snapshot(source_entry, entry, size, frozen)
                  : backend_->Clone(source_entry, entry, size, frozen);
}

std::string Pool::CopyEntry(const std::string& id, const std::string& final_path) const {
  return backend_->copies_in_place() ? final_path : TempEntry(id);
}

Status Pool::PublishImage(const std::string& temp_path, const std::string& final_path) {
  if (temp_path == final_path) return absl::OkStatus();  // made in place, durable
  RETURN_IF_ERROR(host_.Rename(temp_path, final_path));
  std::string dir = final_path.substr(0, final_path.rfind('/'));
  return host_.SyncDirectory(dir);
}

StatusOr<CreateVolumeResult> Pool::CreateVolume(const CreateVolumeSpec& spec) {
  RETURN_IF_ERROR(ValidateName(spec.name));
  std::vector<std::string> shared;
  if (spec.source_kind == SourceKind::kVolume) {
    RETURN_IF_ERROR(ValidateVolumeId(spec.source_id, "source volume_id"));
    shared.push_back("vol:" + spec.source_id);
  } else if (spec.source_kind == SourceKind::kSnapshot) {
    RETURN_IF_ERROR(ValidateSnapshotId(spec.source_id, "source snapshot_id"));
    shared.push_back("snap:" + spec.source_id);
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"name:" + spec.name}, shared));

  ASSIGN_OR_RETURN(auto existing, catalog_->FindVolumeByName(spec.name));
  if (existing) {
    if (existing->state != catalog::State::kReady) {
      return absl::AbortedError(fmt::format("volume {} is still being {}; retry shortly",
                                            spec.name, catalog::StateName(existing->state)));
    }
    std::string why = Mismatch(*existing, spec);
    if (!why.empty()) {
      return absl::AlreadyExistsError(fmt::format(
          "a volume named {} already exists and is not what this request asks for: {}; use "
          "another name or delete the existing volume",
          spec.name, why));
    }
    return CreateVolumeResult{*existing, false};
  }

  std::string source_entry;
  uint64_t source_size = 0;
  uint64_t shared_by_copy = 0;  // a thick source's own blocks the clone shares
  if (spec.source_kind == SourceKind::kVolume) {
    ASSIGN_OR_RETURN(auto source, catalog_->FindVolume(spec.source_id));
    if (!source || source->state == catalog::State::kDeleting ||
        source->state == catalog::State::kCreating) {
      return absl::NotFoundError(
          fmt::format("source volume {} does not exist; clone an existing volume", spec.source_id));
    }
    source_entry = VolumeEntry(source->id);
    source_size = source->capacity_bytes;
    ASSIGN_OR_RETURN(shared_by_copy, SharedByCopyOf(*source));
  } else if (spec.source_kind == SourceKind::kSnapshot) {
    ASSIGN_OR_RETURN(auto source, catalog_->FindSnapshot(spec.source_id));
    if (!source || source->state != catalog::State::kReady) {
      return absl::NotFoundError(fmt::format(
          "source snapshot {} does not exist; restore from an existing snapshot", spec.source_id));
    }
    source_entry = SnapshotEntry(source->id);
    source_size = source->size_bytes;
  }
  uint64_t capacity = spec.capacity_bytes != 0 ? spec.capacity_bytes : source_size;
  if (capacity == 0) {
    return absl::InvalidArgumentError(
        fmt::format("volume {} needs a capacity (for example 1Gi)", spec.name));
  }
  if (capacity > static_cast<uint64_t>(INT64_MAX)) {
    return absl::OutOfRangeError(fmt::format("capacity {} bytes is too large", capacity));
  }
  if (capacity < source_size) {
    return absl::OutOfRangeError(fmt::format(
        "requested capacity {} is smaller than the source {}'s {}; request at least {}",
        FormatQuantity(capacity), spec.source_id, FormatQuantity(source_size),
        FormatQuantity(source_size)));
  }
  ASSIGN_OR_RETURN(auto reservation, ReserveCapacity(capacity));
  // A thick volume takes its whole capacity; a clone of a thick source makes
  // the source's blocks shared until the clone's own are made.
  ASSIGN_OR_RETURN(auto space_hold,
                   HoldSpace((spec.thick ? capacity : 0) + shared_by_copy,
                             fmt::format("{}volume {}{}", spec.thick ? "thick " : "", spec.name,
                                         shared_by_copy > 0
                                             ? fmt::format(" (a clone of thick volume {})",
                                                           spec.source_id)
                                             : std::string())));

  catalog::VolumeRecord record;
  record.id = NewVolumeId(id_tag_);
  record.name = spec.name;
  record.capacity_bytes = static_cast<int64_t>(capacity);
  record.mode_hint = spec.mode_hint;
  record.fs_type = spec.fs_type;
  record.parameters = spec.parameters;
  record.source_kind = SourceKindName(spec.source_kind);
  record.source_id = spec.source_id;
  record.thick = spec.thick;
  record.state = catalog::State::kReady;
  record.created_at_ns = record.updated_at_ns = NowNanos();
  ASSIGN_OR_RETURN(auto id_hold, locks_.TryAcquire({"vol:" + record.id}));

  // The image first, complete and durable under its final name; the catalog
  // row last, as the commit point (see pool.h).
  std::string final_path = VolumeEntry(record.id);
  std::string temp =
      spec.source_kind == SourceKind::kNone ? TempEntry(record.id) : CopyEntry(record.id, final_path);
  auto make_volume = [&]() -> Status {
    if (spec.source_kind == SourceKind::kNone) {
      RETURN_IF_ERROR(backend_->CreateEmpty(temp, capacity, spec.thick));
      RETURN_IF_ERROR(Failpoint("pool.create.after_image"));
    } else {
      bool clone = spec.source_kind == SourceKind::kVolume;
      ASSIGN_OR_RETURN(record.clone_method,
                       CloneEntry(source_entry, temp, capacity,
                                  clone && spec.consistency == Consistency::kFilesystem
                                      ? spec.source_id
                                      : "",
                                  clone ? "pool.clone.frozen" : "pool.restore.frozen"));
      // Thick: its own blocks, not the source's (fallocate alone would keep
      // them shared). Nothing writes to the new image yet.
      if (spec.thick) {
        RETURN_IF_ERROR(host_.AllocateUnshared(backend_->ImageIn(temp), 0, capacity));
      }
      RETURN_IF_ERROR(Failpoint(spec.source_kind == SourceKind::kVolume
                                    ? "pool.clone.after_reflink"
                                    : "pool.restore.after_reflink"));
    }
    RETURN_IF_ERROR(PublishImage(temp, final_path));
    RETURN_IF_ERROR(Failpoint(spec.source_kind == SourceKind::kVolume   ? "pool.clone.after_rename"
                              : spec.source_kind == SourceKind::kNone ? "pool.create.after_rename"
                                                                      : "pool.restore.after_rename"));
    return catalog_->InsertVolume(record);
  };
  Status made = make_volume();
  if (!made.ok()) {
    // Roll back: nothing of this volume may remain.
    (void)RemoveIfPresent(temp);
    Status removed = RemoveIfPresent(final_path);
    if (!removed.ok()) {
      spdlog::error("cannot roll back volume {}: {}; it is removed when the pool is next opened",
                    record.id, std::string(removed.message()));
    }
    return made;
  }
  NoteVolume(record);
  if (spec.source_kind != SourceKind::kNone) space_.Invalidate(SourceKey(record));
  spdlog::info("created volume {} ({}, {}{})", record.id, record.name, FormatQuantity(capacity),
               record.source_id.empty() ? ""
                                        : fmt::format(", {} of {} {}", record.clone_method,
                                                      record.source_kind, record.source_id));
  return CreateVolumeResult{record, true};
}

Status Pool::DeleteVolume(const std::string& id) {
  RETURN_IF_ERROR(ValidateVolumeId(id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + id}));
  ASSIGN_OR_RETURN(auto record, catalog_->FindVolume(id));
  // Already deleted; an image an interrupted delete left goes now.
  if (!record) return RemoveIfPresent(VolumeEntry(id));
  ASSIGN_OR_RETURN(auto stage, catalog_->FindStage(id));
  if (stage) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {} is staged at {}; unpublish and unstage it before deleting it", id,
        stage->staging_path));
  }
  // Hold the name too, so a concurrent create of the same name waits for us.
  ASSIGN_OR_RETURN(auto name_hold, locks_.TryAcquire({"name:" + record->name}));
  // The row's removal is the commit point; an image a crash leaves behind
  // has no row and goes at the next open (or the next delete of this id).
  RETURN_IF_ERROR(catalog_->DeleteVolume(id));
  space_.Forget(VolumeKey(id));
  // Blocks it shared with its source may be the source's alone now.
  if (!record->source_id.empty()) space_.Invalidate(SourceKey(*record));
  RETURN_IF_ERROR(Failpoint("pool.delete_volume.after_commit"));
  RETURN_IF_ERROR(RemoveIfPresent(VolumeEntry(id)));
  spdlog::info("deleted volume {} ({})", id, record->name);
  // Its base for incremental copies (pool_imports.cc) goes with it; any
  // other snapshot of it stays.
  if (record->clone_method == "peer-copy") {
    ASSIGN_OR_RETURN(auto snapshots, catalog_->ListSnapshotsAfter(std::nullopt, 0, id));
    for (const auto& snapshot : snapshots) {
      if (snapshot.origin_id.empty()) continue;
      Status deleted = DeleteSnapshot(snapshot.id);
      if (!deleted.ok()) {
        spdlog::warn("cannot delete snapshot {}, the base of volume {}: {}; delete it by hand",
                     snapshot.id, id, std::string(deleted.message()));
      }
    }
  }
  return absl::OkStatus();
}

StatusOr<catalog::VolumeRecord> Pool::ExpandVolume(const std::string& id, uint64_t capacity_bytes) {
  RETURN_IF_ERROR(ValidateVolumeId(id));
  if (capacity_bytes > static_cast<uint64_t>(INT64_MAX)) {
    return absl::OutOfRangeError(fmt::format("capacity {} bytes is too large", capacity_bytes));
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + id}));
  ASSIGN_OR_RETURN(auto record, GetVolume(id));
  if (capacity_bytes <= static_cast<uint64_t>(record.capacity_bytes)) return record;
  ASSIGN_OR_RETURN(auto reservation, ReserveCapacity(capacity_bytes - record.capacity_bytes));
  const uint64_t growth = capacity_bytes - static_cast<uint64_t>(record.capacity_bytes);
  ASSIGN_OR_RETURN(auto space_hold,
                   HoldSpace(record.thick ? growth : 0,
                             fmt::format("expanding thick volume {} to {}", id,
                                         FormatQuantity(capacity_bytes))));
  record.state = catalog::State::kExpanding;
  record.target_capacity_bytes = static_cast<int64_t>(capacity_bytes);
  record.updated_at_ns = NowNanos();
  RETURN_IF_ERROR(catalog_->UpdateVolume(record));
  auto grow = [&]() -> Status {
    RETURN_IF_ERROR(Failpoint("pool.expand.after_intent"));
    RETURN_IF_ERROR(host_.Resize(VolumePath(id), capacity_bytes));
    // A thick volume's new blocks are its own too.
    if (record.thick) {
      RETURN_IF_ERROR(host_.Allocate(VolumePath(id), capacity_bytes - growth, growth));
    }
    return Failpoint("pool.expand.after_resize");
  };
  Status grown = grow();
  if (!grown.ok()) {
    // Record the volume as its image now is: grown or not.
    auto info = host_.Stat(VolumePath(id));
    if (info.ok() && info->size >= capacity_bytes) record.capacity_bytes = capacity_bytes;
    record.state = catalog::State::kReady;
    record.target_capacity_bytes = 0;
    (void)catalog_->UpdateVolume(record);
    NoteVolume(record);
    return grown;
  }
  record.capacity_bytes = static_cast<int64_t>(capacity_bytes);
  record.target_capacity_bytes = 0;
  record.state = catalog::State::kReady;
  record.updated_at_ns = NowNanos();
  RETURN_IF_ERROR(catalog_->UpdateVolume(record));
  NoteVolume(record);
  spdlog::info("expanded volume {} to {}", id, FormatQuantity(capacity_bytes));
  return record;
}

StatusOr<catalog::VolumeRecord> Pool::GetVolume(const std::string& id) {
  RETURN_IF_ERROR(ValidateVolumeId(id));
  ASSIGN_OR_RETURN(auto record, catalog_->FindVolume(id));
  if (!record || record->state == catalog::State::kDeleting ||
      record->state == catalog::State::kCreating) {
    return absl::NotFoundError(fmt::format("volume {} does not exist", id));
  }
  return *record;
}

StatusOr<std::optional<catalog::VolumeRecord>> Pool::FindVolumeByName(const std::string& name) {
  RETURN_IF_ERROR(ValidateName(name));
  return catalog_->FindVolumeByName(name);
}

StatusOr<std::vector<catalog::VolumeRecord>> Pool::ListVolumesPage(
    const std::optional<catalog::ListPosition>& after, int64_t limit) {
  return catalog_->ListVolumesAfter(after, limit);
}

StatusOr<std::vector<catalog::VolumeRecord>> Pool::ListVolumes() {
  ASSIGN_OR_RETURN(auto all, catalog_->ListVolumes());
  std::vector<catalog::VolumeRecord> ready;
  for (auto& volume : all) {
    if (volume.state == catalog::State::kReady || volume.state == catalog::State::kExpanding) {
      ready.push_back(std::move(volume));
    }
  }
  return ready;
}

}  // namespace ditto::pool
