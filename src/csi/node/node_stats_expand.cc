// NodeGetVolumeStats and NodeExpandVolume: a published volume's usage and
// condition, and growing its device and filesystem after the controller grew
// the image.
#include "csi/node/node_service.h"

#include <algorithm>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/node/node_checks.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {

Status NodeService::DoGetVolumeStats(const pb::NodeGetVolumeStatsRequest& request,
                                     pb::NodeGetVolumeStatsResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& path = request.volume_path();
  RETURN_IF_ERROR(ValidateLookupPath(path, "volume_path"));
  if (!request.staging_target_path().empty()) {
    RETURN_IF_ERROR(ValidateLookupPath(request.staging_target_path(), "staging_target_path"));
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  auto info = context_.host.Stat(path);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(fmt::format("volume_path {} does not exist", path));
  }
  RETURN_IF_ERROR(info.status());
  ASSIGN_OR_RETURN(bool ours, IsVolumePath(volume.id, path));
  ASSIGN_OR_RETURN(auto stage, context_.pool.catalog().FindStage(volume.id));
  if (!ours || !stage) {
    return absl::NotFoundError(
        fmt::format("volume {} is not staged or published at {}", volume.id, path));
  }

  pb::VolumeCondition* condition = response->mutable_volume_condition();
  condition->set_abnormal(false);
  condition->set_message("the volume is attached and mounted");
  ASSIGN_OR_RETURN(auto loops, LoopsOf(volume.id));
  auto image = context_.host.Stat(context_.pool.VolumePath(volume.id));
  if (!image.ok()) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("the volume's image is missing: {}", std::string(image.status().message())));
  } else if (std::find(loops.begin(), loops.end(), stage->device) == loops.end()) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("loop device {} no longer backs the volume's image; unstage and stage it again",
                    stage->device));
  }

  if (stage->block) {
    auto size = context_.host.BlockDeviceSize(stage->device);
    if (!size.ok()) {
      condition->set_abnormal(true);
      condition->set_message(fmt::format("cannot read the size of {}: {}", stage->device,
                                         std::string(size.status().message())));
      return absl::OkStatus();
    }
    auto* usage = response->add_usage();
    usage->set_unit(pb::VolumeUsage::BYTES);
    usage->set_total(static_cast<int64_t>(*size));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto mount, MountAt(path));
  if (!mount) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("nothing is mounted at {}; the volume is not available there", path));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto fs, context_.host.StatFilesystem(path));
  auto* bytes = response->add_usage();
  bytes->set_unit(pb::VolumeUsage::BYTES);
  bytes->set_total(static_cast<int64_t>(fs.capacity_bytes));
  bytes->set_available(static_cast<int64_t>(fs.available_bytes));
  bytes->set_used(
      static_cast<int64_t>(fs.capacity_bytes - std::min(fs.capacity_bytes, fs.free_bytes)));
  auto* inodes = response->add_usage();
  inodes->set_unit(pb::VolumeUsage::INODES);
  inodes->set_total(static_cast<int64_t>(fs.total_inodes));
  inodes->set_available(static_cast<int64_t>(fs.free_inodes));
  inodes->set_used(
      static_cast<int64_t>(fs.total_inodes - std::min(fs.total_inodes, fs.free_inodes)));
  return absl::OkStatus();
}

// Kept in one piece: NodeExpandVolume's steps (validate, refresh the
// loop device, grow the filesystem online or offline) in order, each with its own error.
Status NodeService::DoExpand(const pb::NodeExpandVolumeRequest& request,
                             pb::NodeExpandVolumeResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& path = request.volume_path();
  RETURN_IF_ERROR(ValidateLookupPath(path, "volume_path"));
  if (!request.staging_target_path().empty()) {
    RETURN_IF_ERROR(ValidateLookupPath(request.staging_target_path(), "staging_target_path"));
  }
  if (request.has_capacity_range()) {
    RETURN_IF_ERROR(ValidateCapacityRange(request.capacity_range(), "capacity_range"));
  }
  std::optional<Capability> capability;
  if (request.has_volume_capability()) {
    ASSIGN_OR_RETURN(capability, ParseCapability(request.volume_capability(), "volume_capability"));
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  if (capability) {
    Status usable = CheckNodeCapability(*capability, volume);
    if (!usable.ok()) return absl::InvalidArgumentError(std::string(usable.message()));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  ASSIGN_OR_RETURN(auto stage, context_.pool.catalog().FindStage(volume.id));
  ASSIGN_OR_RETURN(bool ours, IsVolumePath(volume.id, path));
  if (!stage || !ours) {
    return absl::NotFoundError(fmt::format(
        "volume {} is not staged or published at {}; NodeExpandVolume works on a staged volume",
        volume.id, path));
  }
  if (capability && capability->block != stage->block) {
    return absl::InvalidArgumentError(fmt::format("volume {} is staged as a {} volume", volume.id,
                                                  stage->block ? "block" : "mount"));
  }
  uint64_t required = request.has_capacity_range()
                          ? static_cast<uint64_t>(request.capacity_range().required_bytes())
                          : 0;
  if (required > static_cast<uint64_t>(volume.capacity_bytes)) {
    return absl::OutOfRangeError(fmt::format(
        "volume {} is {} bytes, less than the {} asked for; ControllerExpandVolume it first",
        volume.id, volume.capacity_bytes, required));
  }
  int64_t limit = request.has_capacity_range() ? request.capacity_range().limit_bytes() : 0;
  if (limit > 0 && volume.capacity_bytes > limit) {
    return absl::OutOfRangeError(fmt::format(
        "volume {} is already {} bytes, more than the limit of {} asked for; a volume never "
        "shrinks, ask for a limit of at least its size",
        volume.id, volume.capacity_bytes, limit));
  }
  RETURN_IF_ERROR(context_.host.RefreshLoopCapacity(stage->device));
  if (!stage->block) {
    ASSIGN_OR_RETURN(auto mount, MountAt(stage->staging_path));
    if (!mount) {
      return absl::FailedPreconditionError(
          fmt::format("volume {} is not mounted at its staging path {}; stage it again", volume.id,
                      stage->staging_path));
    }
    bool published = false;
    ASSIGN_OR_RETURN(auto publishes, context_.pool.catalog().ListPublishes(volume.id));
    for (const auto& publish : publishes) {
      ASSIGN_OR_RETURN(auto target, MountAt(publish.target_path));
      published = published || target.has_value();
    }
    if (stage->fs_type == "ext4" && !published) {
      // Nothing uses the filesystem but the staging mount: grow it offline,
      // which needs no CAP_SYS_RESOURCE (online ext4 growth does).
      RETURN_IF_ERROR(context_.host.Unmount(stage->staging_path));
      auto grown = GrowExt4Offline(stage->device);
      AccessMode mode = pb::VolumeCapability::AccessMode::UNKNOWN;
      pb::VolumeCapability::AccessMode::Mode_Parse(stage->access_mode, &mode);
      std::vector<std::string> flags;
      for (size_t start = 0; start < stage->mount_flags.size();) {
        size_t comma = stage->mount_flags.find(',', start);
        if (comma == std::string::npos) comma = stage->mount_flags.size();
        flags.push_back(stage->mount_flags.substr(start, comma - start));
        start = comma + 1;
      }
      Status mounted = MountFilesystem(stage->device, stage->staging_path, stage->fs_type, flags,
                                       IsReadOnlyMode(mode));
      RETURN_IF_ERROR(grown.status());
      RETURN_IF_ERROR(mounted);
    } else {
      Status grown = GrowFilesystem(stage->device, stage->staging_path, stage->fs_type);
      if (!grown.ok() && stage->fs_type == "ext4" &&
          std::string(grown.message()).find("Permission denied") != std::string::npos) {
        return absl::FailedPreconditionError(fmt::format(
            "{}; growing a mounted ext4 filesystem needs CAP_SYS_RESOURCE: run dittod with it, "
            "or expand while the volume is not published (it is then grown offline)",
            std::string(grown.message())));
      }
      RETURN_IF_ERROR(grown);
    }
  }
  ASSIGN_OR_RETURN(uint64_t size, context_.host.BlockDeviceSize(stage->device));
  response->set_capacity_bytes(static_cast<int64_t>(size));
  return absl::OkStatus();
}

}  // namespace ditto::csi
