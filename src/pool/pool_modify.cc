// Volume modification: thin <-> thick after creation (ControllerModifyVolume).
#include "common/clock.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

// Thaws a frozen filesystem on every path out of a scope, errors included.
class ThawAtExit {
 public:
  ThawAtExit(host::Host& host, std::string mount_point)
      : host_(host), mount_point_(std::move(mount_point)) {}
  ~ThawAtExit() {
    if (mount_point_.empty()) return;
    Status thawed = host_.Thaw(mount_point_);
    if (!thawed.ok()) {
      spdlog::error("cannot thaw {}: {}; run fsfreeze --unfreeze {}", mount_point_,
                    std::string(thawed.message()), mount_point_);
    }
  }
  ThawAtExit(const ThawAtExit&) = delete;
  ThawAtExit& operator=(const ThawAtExit&) = delete;

 private:
  host::Host& host_;
  std::string mount_point_;
};

}  // namespace

StatusOr<catalog::VolumeRecord> Pool::SetVolumeThick(const std::string& id, bool thick) {
  RETURN_IF_ERROR(ValidateVolumeId(id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + id}));
  ASSIGN_OR_RETURN(auto record, GetVolume(id));
  if (!thick) {
    if (!record.thick) return record;
    record.thick = false;
    record.updated_at_ns = NowNanos();
    RETURN_IF_ERROR(catalog_->UpdateVolume(record));
    spdlog::info("volume {} is now thin (its allocated blocks stay until rewritten)", id);
    return record;
  }

  const std::string path = VolumePath(id);
  const uint64_t capacity = static_cast<uint64_t>(record.capacity_bytes);
  ASSIGN_OR_RETURN(ImageSpace space, ImageSpaceOf(path));
  // Every block that is a hole or shared now becomes one of the volume's own.
  uint64_t needed = capacity > space.exclusive_bytes ? capacity - space.exclusive_bytes : 0;
  if (needed > 0) {
    ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(layout_.data_dir));
    if (needed > fs.available_bytes) {
      return absl::ResourceExhaustedError(fmt::format(
          "volume {} needs {} more pool space to be thick (its holes and the blocks it shares "
          "with snapshots and clones, of {} in all), but the pool has {} free; nothing was "
          "changed: free space (delete snapshots or volumes) or grow the pool, then retry",
          id, FormatQuantity(needed), FormatQuantity(capacity),
          FormatQuantity(fs.available_bytes)));
    }
    // Where the filesystem cannot unshare in the kernel the image is rewritten
    // with its own data, which must not race the volume's writers: a mounted
    // volume's filesystem is frozen; a staged block volume has none to freeze.
    ASSIGN_OR_RETURN(auto stage, catalog_->FindStage(id));
    std::string frozen;
    std::unique_lock<std::mutex> turn;  // released after the thaw below (declared first)
    if (stage && !stage->block && !stage->staging_path.empty()) {
      turn = FreezeTurn(stage->staging_path);  // a clone of it may be in its window
      Status status = host_.Freeze(stage->staging_path);
      if (!status.ok()) {
        return Status(status.code(),
                      fmt::format("cannot freeze the filesystem of volume {} at {} while its "
                                  "image is made thick: {}",
                                  id, stage->staging_path, std::string(status.message())));
      }
      frozen = stage->staging_path;
    } else if (stage && fs.type != "xfs") {
      return absl::FailedPreconditionError(fmt::format(
          "volume {} is staged as a block device and the pool's {} filesystem cannot unshare "
          "blocks in place; unstage it (stop the pod using it) and retry",
          id, fs.type));
    }
    ThawAtExit thaw(host_, frozen);
    Status allocated = host_.AllocateUnshared(path, 0, capacity);
    if (!allocated.ok()) {
      return Status(allocated.code(),
                    fmt::format("cannot make volume {} thick: {}; it stays thin", id,
                                std::string(allocated.message())));
    }
  }
  if (!record.thick) {
    record.thick = true;
    record.updated_at_ns = NowNanos();
    RETURN_IF_ERROR(catalog_->UpdateVolume(record));
  }
  spdlog::info("volume {} is thick: {} allocated for it alone", id, FormatQuantity(capacity));
  return record;
}

}  // namespace ditto::pool
