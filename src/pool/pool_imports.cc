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

StatusOr<std::string> Pool::BeginImport(const std::string& volume_id, uint64_t size) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id));
  if (size == 0 || size > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        fmt::format("an imported volume needs a size between 1 byte and 2^63-1 (got {})", size));
  }
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + volume_id}));
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
  RETURN_IF_ERROR(backend_->CreateEmpty(temp, size, /*thick=*/false));
  return image;
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
  auto publish = [&]() -> Status {
    if (spec.thick) {
      RETURN_IF_ERROR(host_.AllocateUnshared(image, 0, spec.capacity_bytes));
    }
    RETURN_IF_ERROR(host_.SyncFile(image));
    RETURN_IF_ERROR(PublishImage(temp, final_path));
    return catalog_->InsertVolume(record);
  };
  Status made = publish();
  if (!made.ok()) {
    Status removed = RemoveIfPresent(final_path);
    (void)RemoveIfPresent(temp);
    if (!removed.ok()) {
      spdlog::error("cannot roll back volume {}: {}; it is removed when the pool is next opened",
                    volume_id, std::string(removed.message()));
    }
    return made;
  }
  NoteVolume(record);  // into the space figures, like every other new volume
  spdlog::info("created volume {} ({}, {}, copied from {} {})", record.id, record.name,
               FormatQuantity(spec.capacity_bytes), record.source_kind, record.source_id);
  return CreateVolumeResult{record, true};
}

}  // namespace ditto::pool
