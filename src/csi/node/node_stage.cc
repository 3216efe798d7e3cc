// NodeStageVolume and NodeUnstageVolume: a volume's loop device, and for a
// mount volume its filesystem (made on first use) mounted at the staging path.
#include "csi/node/node_service.h"

#include <algorithm>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/node/node_checks.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {
namespace {

std::string JoinFlags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& flag : flags) out += (out.empty() ? "" : ",") + flag;
  return out;
}

}  // namespace

// Kept in one piece: NodeStageVolume's steps (validate, attach the loop
// device, make or check the filesystem, mount, record) in order, each with its own error.
Status NodeService::DoStage(const pb::NodeStageVolumeRequest& request) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& staging = request.staging_target_path();
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (!request.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  ASSIGN_OR_RETURN(Capability capability,
                   ParseCapability(request.volume_capability(), "volume_capability"));
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  RETURN_IF_ERROR(CheckNodeCapability(capability, volume));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));

  std::string fs_type;
  if (!capability.block) {
    fs_type = !capability.fs_type.empty() ? capability.fs_type
              : !volume.fs_type.empty()   ? volume.fs_type
                                          : std::string(kDefaultFsType);
  }
  std::string flags = JoinFlags(capability.mount_flags);
  std::string mode = AccessModeName(capability.mode);
  auto& catalog = context_.pool.catalog();

  ASSIGN_OR_RETURN(auto existing, catalog.FindStage(volume.id));
  if (existing) {
    if (existing->staging_path != staging) {
      return absl::AlreadyExistsError(fmt::format(
          "volume {} is already staged at {}; unstage it there first (one staging path per "
          "volume)",
          volume.id, existing->staging_path));
    }
    if (existing->block != capability.block || existing->fs_type != fs_type ||
        existing->mount_flags != flags || existing->access_mode != mode) {
      return absl::AlreadyExistsError(fmt::format(
          "volume {} is already staged at {} with another capability ({} {} {}); unstage it "
          "first to change how it is staged",
          volume.id, staging, existing->block ? "block" : "mount " + existing->fs_type,
          existing->access_mode, existing->mount_flags.empty() ? "" : "with mount flags"));
    }
  }

  // Find or attach the loop device (a previous attempt or a restart may have
  // left one).
  ASSIGN_OR_RETURN(auto loops, LoopsOf(volume.id));
  std::string device;
  bool attached_now = false;
  if (!loops.empty()) {
    device = loops.front();
  } else {
    ASSIGN_OR_RETURN(device, context_.host.AttachLoop(context_.pool.VolumePath(volume.id),
                                                      /*direct_io=*/true, /*read_only=*/false));
    attached_now = true;
  }
  RETURN_IF_ERROR(Failpoint("node.stage.after_attach"));
  bool mounted_now = false;
  auto undo = [&](Status status) {
    // Leave nothing behind that this call made.
    if (mounted_now) (void)context_.host.Unmount(staging);
    if (attached_now) (void)context_.host.DetachLoop(device);
    return status;
  };

  if (!capability.block) {
    auto found = ProbeFilesystem(device);
    if (!found.ok()) return undo(found.status());
    bool formatted = false;
    if (found->empty()) {
      Status made = Format(device, fs_type);
      if (!made.ok()) return undo(ExplainFullPool(made, volume));
      formatted = true;
      RETURN_IF_ERROR(Failpoint("node.stage.after_format"));
    } else if (*found != fs_type) {
      return undo(absl::FailedPreconditionError(fmt::format(
          "volume {} holds a {} filesystem, not {}; it is never reformatted (ask for {})",
          volume.id, *found, fs_type, *found)));
    }
    Status made = RequireNoSymlinks(context_.host, staging, "staging_target_path");
    if (made.ok()) made = context_.host.MakeDirectories(staging, 0750);
    if (!made.ok()) return undo(made);
    auto current = MountAt(staging);
    if (!current.ok()) return undo(current.status());
    if (*current && (*current)->source != device) {
      return undo(absl::FailedPreconditionError(
          fmt::format("{} is already a mount point of {}; volume {} cannot be staged there",
                      staging, (*current)->source, volume.id)));
    }
    bool read_only =
        IsReadOnlyMode(capability.mode) || SplitMountFlags(capability.mount_flags).read_only;
    // A volume made larger than its source (or expanded while unstaged) has a
    // device larger than its filesystem: ext4 grows before it is mounted
    // (offline growth needs no CAP_SYS_RESOURCE), xfs after (it can only
    // grow mounted).
    if (!*current && !formatted && !read_only && fs_type == "ext4") {
      auto grown = GrowExt4Offline(device);
      if (!grown.ok()) return undo(grown.status());
    }
    if (!*current) {
      Status mounted = MountFilesystem(device, staging, fs_type, capability.mount_flags, read_only);
      if (!mounted.ok()) return undo(mounted);
      mounted_now = true;
    }
    if (!formatted && !read_only && fs_type == "xfs") {
      Status grown = GrowFilesystem(device, staging, fs_type);
      if (!grown.ok()) return undo(grown);
    }
  }

  catalog::StageRecord record;
  record.volume_id = volume.id;
  record.staging_path = staging;
  record.device = device;
  record.block = capability.block;
  record.fs_type = fs_type;
  record.mount_flags = flags;
  record.access_mode = mode;
  record.created_at_ns = existing ? existing->created_at_ns : NowNanos();
  Status put = catalog.PutStage(record);
  if (!put.ok()) return undo(put);
  RETURN_IF_ERROR(Failpoint("node.stage.after_mount"));
  return absl::OkStatus();
}

Status NodeService::DoUnstage(const pb::NodeUnstageVolumeRequest& request) {
  const std::string& id = request.volume_id();
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& staging = request.staging_target_path();
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(
        fmt::format("volume {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + id}));
  auto& catalog = context_.pool.catalog();
  ASSIGN_OR_RETURN(auto stage, catalog.FindStage(id));
  if (!stage) {
    // Unknown to the catalog: NOT_FOUND unless the volume exists, in which
    // case it is simply not staged (idempotent) — but clean up what a crash
    // between mount and record may have left.
    RETURN_IF_ERROR(context_.pool.GetVolume(id).status());
  } else if (stage->staging_path != staging) {
    return absl::OkStatus();  // not staged at this path
  }

  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(id));
  for (const auto& publish : publishes) {
    ASSIGN_OR_RETURN(auto mount, MountAt(publish.target_path));
    if (mount) {
      return absl::FailedPreconditionError(
          fmt::format("volume {} is still published at {}; NodeUnpublishVolume it first", id,
                      publish.target_path));
    }
  }
  ASSIGN_OR_RETURN(auto loops, LoopsOf(id));
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    ASSIGN_OR_RETURN(auto mount, MountAt(staging));
    if (!mount) break;
    bool ours = (stage && !stage->block) ||
                std::find(loops.begin(), loops.end(), mount->source) != loops.end();
    if (!ours) break;
    Status unmounted = context_.host.Unmount(staging);
    if (!unmounted.ok() && !absl::IsNotFound(unmounted)) return unmounted;
  }
  RETURN_IF_ERROR(Failpoint("node.unstage.after_unmount"));
  for (const auto& device : loops) {
    Status detached = context_.host.DetachLoop(device);
    if (!detached.ok() && !absl::IsNotFound(detached)) return detached;
  }
  RETURN_IF_ERROR(Failpoint("node.unstage.after_detach"));
  for (const auto& publish : publishes) {
    RETURN_IF_ERROR(catalog.DeletePublish(id, publish.target_path));
  }
  return catalog.DeleteStage(id);
}

}  // namespace ditto::csi
