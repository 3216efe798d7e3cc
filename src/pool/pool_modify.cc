// Volume modification: thin <-> thick after creation (ControllerModifyVolume).
#include <algorithm>

#include "common/clock.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "fmt/format.h"
#include "pool/freezer.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

// On a filesystem without an in-kernel unshare the image is rewritten with
// its own data, frozen one piece at a time: the application pauses for one
// piece at a time, never for the whole volume.
constexpr uint64_t kRewritePieceBytes = uint64_t{16} << 20;

}  // namespace

Status Pool::Thicken(const std::string& id, const std::string& path, uint64_t offset,
                     uint64_t length) {
  Status allocated = host_.AllocateUnshared(path, offset, length);
  if (!allocated.ok()) {
    return Status(allocated.code(), fmt::format("cannot make volume {} thick: {}; it stays thin",
                                                id, std::string(allocated.message())));
  }
  return absl::OkStatus();
}

StatusOr<catalog::VolumeRecord> Pool::SetVolumeThick(const std::string& id, bool thick) {
  RETURN_IF_ERROR(ValidateVolumeId(id));
  ASSIGN_OR_RETURN(auto hold, locks_.TryAcquire({"vol:" + id}));
  ASSIGN_OR_RETURN(auto record, GetVolume(id));
  if (!thick) {
    if (!record.thick) return record;
    record.thick = false;
    record.updated_at_ns = NowNanos();
    RETURN_IF_ERROR(catalog_->UpdateVolume(record));
    NoteVolume(record);
    spdlog::info("volume {} is now thin (its allocated blocks stay until rewritten)", id);
    return record;
  }

  const std::string path = VolumePath(id);
  const uint64_t capacity = static_cast<uint64_t>(record.capacity_bytes);
  ASSIGN_OR_RETURN(ImageSpace space, ImageSpaceOf(path));
  // Every block that is a hole or shared now becomes one of the volume's own.
  uint64_t needed = capacity > space.exclusive_bytes ? capacity - space.exclusive_bytes : 0;
  if (needed > 0) {
    // Its own reservation, if it is thick already, is what it asks for now.
    ASSIGN_OR_RETURN(
        auto space_hold,
        HoldSpace(needed,
                  fmt::format("making volume {} thick (its holes and the blocks it shares with "
                              "snapshots and clones, of {} in all; nothing was changed)",
                              id, FormatQuantity(capacity)),
                  id));
    ASSIGN_OR_RETURN(auto fs, host_.StatFilesystem(layout_.data_dir));
    // XFS unshares in the kernel, under the file's lock: the volume's
    // writers simply wait for it. On btrfs each shared piece is copied and
    // swapped in only while it still holds the bytes copied (Host::
    // AllocateUnshared), so a writer is never undone: a staged block volume
    // is made thick as its application writes. A mounted volume's filesystem
    // is also frozen around each piece (which the swap no longer needs for
    // correctness; it pauses the application once per piece).
    ASSIGN_OR_RETURN(auto stage, catalog_->FindStage(id));
    const bool in_kernel = fs.type == "xfs";
    if (in_kernel || !stage || stage->block || stage->staging_path.empty()) {
      RETURN_IF_ERROR(Thicken(id, path, 0, capacity));
    } else {
      for (uint64_t offset = 0; offset < capacity; offset += kRewritePieceBytes) {
        FreezeWindow window(host_, freeze_limit_);
        Status frozen = window.Freeze(stage->staging_path);
        if (!frozen.ok()) {
          return Status(frozen.code(),
                        fmt::format("cannot freeze the filesystem of volume {} at {} while its "
                                    "image is made thick: {}; it stays thin",
                                    id, stage->staging_path, std::string(frozen.message())));
        }
        // A watchdog thaw in the middle of a piece could let a write land
        // between the piece's read and its rewrite: the limit (30 s) is
        // far beyond what one piece takes.
        Status piece = Thicken(id, path, offset, std::min(kRewritePieceBytes, capacity - offset));
        Status closed = window.Close();
        RETURN_IF_ERROR(piece);
        if (!closed.ok()) {
          return Status(closed.code(), fmt::format("cannot make volume {} thick: {}; it stays thin",
                                                   id, std::string(closed.message())));
        }
      }
    }
  }
  if (!record.thick) {
    record.thick = true;
    record.updated_at_ns = NowNanos();
    RETURN_IF_ERROR(catalog_->UpdateVolume(record));
  }
  NoteVolume(record);
  spdlog::info("volume {} is thick: {} allocated for it alone", id, FormatQuantity(capacity));
  return record;
}

}  // namespace ditto::pool
