// NodePublishVolume and NodeUnpublishVolume: a staged volume bind-mounted at
// each target path (a directory for mount, a file for block).
#include "csi/node/node_service.h"

#include <algorithm>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/node/node_checks.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {

// Kept in one piece: NodePublishVolume's checks, one early return each,
// then its bind mount.
Status NodeService::DoPublish(const pb::NodePublishVolumeRequest& request) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& target = request.target_path();
  RETURN_IF_ERROR(ValidateNodePath(target, "target_path"));
  if (!request.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  ASSIGN_OR_RETURN(Capability capability,
                   ParseCapability(request.volume_capability(), "volume_capability"));
  const std::string& staging = request.staging_target_path();
  if (staging.empty()) {
    return absl::FailedPreconditionError(
        "staging_target_path is required: the driver stages volumes (STAGE_UNSTAGE_VOLUME); "
        "call NodeStageVolume first and pass its path");
  }
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (staging == target) {
    return absl::InvalidArgumentError("target_path must differ from staging_target_path");
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  RETURN_IF_ERROR(CheckNodeCapability(capability, volume));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  auto& catalog = context_.pool.catalog();

  ASSIGN_OR_RETURN(auto stage, catalog.FindStage(volume.id));
  if (!stage || stage->staging_path != staging) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is not staged at {}; call NodeStageVolume with that path first",
                    volume.id, staging));
  }
  if (stage->block != capability.block) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is staged as a {} volume; publish it the same way", volume.id,
                    stage->block ? "block" : "mount"));
  }
  bool read_only = request.readonly() || IsReadOnlyMode(capability.mode);

  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(volume.id));
  for (const auto& publish : publishes) {
    ASSIGN_OR_RETURN(auto mount, MountAt(publish.target_path));
    if (publish.target_path == target) {
      if (publish.read_only != request.readonly() || publish.block != capability.block) {
        return absl::AlreadyExistsError(fmt::format(
            "volume {} is already published at {} with readonly={} as {}; unpublish it first",
            volume.id, target, publish.read_only, publish.block ? "block" : "mount"));
      }
      if (mount) return absl::OkStatus();  // idempotent repeat
      continue;                            // recorded but gone: publish again
    }
    if (mount && !AllowsSeveralPublishTargets(capability.mode)) {
      return absl::FailedPreconditionError(fmt::format(
          "volume {} is already published at {} and access mode {} allows one target; use "
          "SINGLE_NODE_MULTI_WRITER for several",
          volume.id, publish.target_path, AccessModeName(capability.mode)));
    }
  }

  ASSIGN_OR_RETURN(auto current, MountAt(target));
  if (!current) {
    host::MountOptions options;
    options.bind = true;
    options.read_only = read_only;
    RETURN_IF_ERROR(RequireNoSymlinks(context_.host, target, "target_path"));
    if (capability.block) {
      RETURN_IF_ERROR(context_.host.MakeDirectories(ParentOf(target), 0750));
      RETURN_IF_ERROR(context_.host.Touch(target));
      RETURN_IF_ERROR(context_.host.Mount(stage->device, target, "", options));
    } else {
      RETURN_IF_ERROR(context_.host.MakeDirectories(target, 0750));
      RETURN_IF_ERROR(context_.host.Mount(staging, target, "", options));
    }
  }
  catalog::PublishRecord record;
  record.volume_id = volume.id;
  record.target_path = target;
  record.read_only = request.readonly();
  record.block = capability.block;
  record.created_at_ns = NowNanos();
  RETURN_IF_ERROR(catalog.PutPublish(record));
  return Failpoint("node.publish.after_mount");
}

Status NodeService::DoUnpublish(const pb::NodeUnpublishVolumeRequest& request) {
  const std::string& id = request.volume_id();
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& target = request.target_path();
  RETURN_IF_ERROR(ValidateNodePath(target, "target_path"));
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(
        fmt::format("volume {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + id}));
  auto& catalog = context_.pool.catalog();
  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(id));
  bool recorded = std::any_of(publishes.begin(), publishes.end(),
                              [&](const auto& p) { return p.target_path == target; });
  if (!recorded) {
    RETURN_IF_ERROR(context_.pool.GetVolume(id).status());
    // Not published here. Never unmount what this driver did not publish.
    return absl::OkStatus();
  }
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    ASSIGN_OR_RETURN(auto mount, MountAt(target));
    if (!mount) break;
    Status unmounted = context_.host.Unmount(target);
    if (!unmounted.ok() && !absl::IsNotFound(unmounted)) return unmounted;
  }
  RETURN_IF_ERROR(Failpoint("node.unpublish.after_unmount"));
  // The spec has the plugin delete the file or directory it created. A
  // directory that still holds files was there before the publish: keep it.
  auto info = context_.host.Stat(target);
  bool keep = false;
  if (info.ok() && info->is_directory) {
    ASSIGN_OR_RETURN(auto entries, context_.host.ListDirectory(target));
    keep = !entries.empty();
  }
  Status removed = keep ? absl::OkStatus() : context_.host.Remove(target);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return catalog.DeletePublish(id, target);
}

}  // namespace ditto::csi
