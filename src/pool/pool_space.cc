// Space accounting: per-image allocation and sharing (FIEMAP), pool totals.
#include "fmt/format.h"
#include "pool/path.h"
#include "pool/pool.h"

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
  ASSIGN_OR_RETURN(auto volumes, ListVolumes());
  ASSIGN_OR_RETURN(auto snapshots, ListSnapshots());
  status.volume_count = volumes.size();
  status.snapshot_count = snapshots.size();
  for (const auto& volume : volumes) {
    status.provisioned_bytes += volume.capacity_bytes;
    auto space = ImageSpaceOf(VolumePath(volume.id));
    if (space.ok()) status.shared_bytes += space->shared_bytes;
    const uint64_t capacity = static_cast<uint64_t>(volume.capacity_bytes);
    if (space.ok() && volume.thick && capacity > space->exclusive_bytes) {
      status.reserved_bytes += capacity - space->exclusive_bytes;
    }
  }
  for (const auto& snapshot : snapshots) {
    auto space = ImageSpaceOf(SnapshotPath(snapshot.id));
    if (space.ok()) status.shared_bytes += space->shared_bytes;
  }
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
