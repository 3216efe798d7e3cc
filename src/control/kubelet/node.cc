#include "control/kubelet/node.h"

#include <cstdlib>

#include "common/clock.h"
#include "control/api/kinds.h"
#include "control/controllers/provisioner.h"
#include "control/controllers/reconcile.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::NodeServiceCapability_RPC;

// The setting that remembers a mount point existed before dittoctl mounted
// there (its mode, octal), so unmount leaves it in place.
std::string KeptDirectoryKey(const std::string& target) { return "kept-dir:" + target; }

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// The latest Warning about the claim, to say why it is not Bound.
std::string LatestWarning(ControllerContext& ctx, const Json& claim) {
  std::string message;
  (void)ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(auto events,
                     txn.ListEvents(Namespace(claim), false, kPersistentVolumeClaim, Name(claim)));
    for (const EventRecord& event : events) {
      if (event.type == "Warning" && event.involved_uid == Uid(claim)) message = event.message;
    }
    return absl::OkStatus();
  });
  return message;
}

StatusOr<Json> BoundClaim(ControllerContext& ctx, const PublishRequest& request,
                          const DriverInfo& info) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSIGN_OR_RETURN(
        std::optional<Json> claim,
        GetObject(ctx.store, kPersistentVolumeClaim, request.namespace_name, request.claim_name));
    if (!claim.has_value()) {
      return absl::NotFoundError(
          fmt::format("persistentvolumeclaims \"{}\" not found in namespace "
                      "{}",
                      request.claim_name, request.namespace_name));
    }
    if (IsBeingDeleted(*claim)) {
      return absl::FailedPreconditionError(fmt::format(
          "persistentvolumeclaim \"{}\" is being deleted; it cannot be used", request.claim_name));
    }
    std::string mode = GetString(*claim, {"spec", "volumeMode"}, "Filesystem");
    if (request.block && mode != "Block") {
      return absl::FailedPreconditionError(
          fmt::format("PVC {} has volumeMode {}; attach is for Block claims, use dittoctl mount",
                      request.claim_name, mode));
    }
    if (!request.block && mode == "Block") {
      return absl::FailedPreconditionError(
          fmt::format("PVC {} has volumeMode Block; use dittoctl attach pvc/{} to get its device",
                      request.claim_name, request.claim_name));
    }
    if (!GetString(*claim, {"spec", "volumeName"}).empty()) return *claim;
    if (attempt == 0) {
      // The first consumer: claims of WaitForFirstConsumer classes get this node.
      if (GetAnnotation(*claim, kSelectedNodeAnnotation).empty()) {
        SetAnnotation(*claim, kSelectedNodeAnnotation, info.node_id);
        Status updated = UpdateObject(ctx.store, *claim);
        if (!updated.ok() && !absl::IsAborted(updated)) return updated;
      }
      RETURN_IF_ERROR(Reconcile(ctx));
      continue;
    }
    std::string why = LatestWarning(ctx, *claim);
    return absl::FailedPreconditionError(fmt::format(
        "PVC {} is Pending, not Bound{}{}; see dittoctl describe pvc {} -n {}", request.claim_name,
        why.empty() ? "" : ": ", why, request.claim_name, request.namespace_name));
  }
  return absl::InternalError("unreachable");
}

csi::v1::VolumeCapability CapabilityOf(const Json& volume, const DriverInfo& info) {
  std::vector<std::string> flags;
  for (const Json& flag : volume["spec"].value("mountOptions", Json::array())) {
    flags.push_back(flag.get<std::string>());
  }
  auto capabilities =
      VolumeCapabilities(volume["spec"], GetString(volume, {"spec", "csi", "fsType"}), flags, info);
  return capabilities.empty() ? csi::v1::VolumeCapability() : capabilities.front();
}

}  // namespace

// Kept in one piece: the kubelet's steps for one claim (find its volume,
// stage once, publish, record) in order, each with its own error.
StatusOr<std::string> PublishClaim(ControllerContext& ctx, const PublishRequest& request) {
  CsiClient* kubelet = &ctx.csi;
  if (!request.node.empty()) {
    ASSIGN_OR_RETURN(kubelet, ctx.CsiOfNode(request.node));
  }
  ASSIGN_OR_RETURN(DriverInfo info, kubelet->Info());
  ASSIGN_OR_RETURN(Json claim, BoundClaim(ctx, request, info));
  std::string volume_name = GetString(claim, {"spec", "volumeName"});
  ASSIGN_OR_RETURN(std::optional<Json> volume,
                   GetObject(ctx.store, kPersistentVolume, "", volume_name));
  if (!volume.has_value()) {
    return absl::FailedPreconditionError(
        fmt::format("PVC {} is bound to PersistentVolume {}, which does not exist (claim Lost)",
                    request.claim_name, volume_name));
  }
  std::string handle = GetString(*volume, {"spec", "csi", "volumeHandle"});
  // A local volume is used on its own node (its PV's nodeAffinity).
  CsiClient& holder = ctx.CsiFor(handle);
  ASSIGN_OR_RETURN(DriverInfo holder_info, holder.Info());
  if (!request.node.empty() && holder_info.node_id != info.node_id) {
    return absl::FailedPreconditionError(fmt::format(
        "PVC {} is bound to PersistentVolume {} on node {} (its nodeAffinity); it cannot be "
        "used on node {}: use --node {}, or clone the claim onto node {}",
        request.claim_name, volume_name, holder_info.node_id, info.node_id,
        holder_info.node_id, info.node_id));
  }
  kubelet = &holder;
  info = holder_info;
  std::string target = request.target_path;
  if (target.empty()) target = fmt::format("{}/devices/{}", ctx.state_dir, volume_name);

  std::vector<MountRecord> mounts;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(mounts, txn.ListMounts());
    return absl::OkStatus();
  }));
  bool staged = false;
  for (const MountRecord& mount : mounts) {
    if (mount.target_path == target) {
      if (mount.volume_name == volume_name) return target;  // already there
      return absl::AlreadyExistsError(
          fmt::format("{} already holds PVC {}/{}; unmount it first or choose another path", target,
                      mount.namespace_name, mount.claim_name));
    }
    if (mount.volume_name == volume_name) staged = true;
  }
  RETURN_IF_ERROR(ctx.host.MakeDirectories(Parent(target), 0755));
  // A mount point that already exists is the user's: unmount leaves it.
  auto existing = ctx.host.Stat(target);
  if (existing.ok() && existing->is_directory && !request.block) {
    RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) {
      return txn.PutSetting(KeptDirectoryKey(target), fmt::format("{:o}", existing->mode));
    }));
  }

  csi::v1::VolumeCapability capability = CapabilityOf(*volume, info);
  const Json attributes = volume->at("spec").at("csi").value("volumeAttributes", Json::object());
  std::string staging = ctx.StagingPath(volume_name);
  bool stage_needed = info.HasNode(NodeServiceCapability_RPC::STAGE_UNSTAGE_VOLUME);
  if (stage_needed && !staged) {
    RETURN_IF_ERROR(ctx.host.MakeDirectories(staging, 0750));
    csi::v1::NodeStageVolumeRequest stage;
    stage.set_volume_id(handle);
    stage.set_staging_target_path(staging);
    *stage.mutable_volume_capability() = capability;
    for (const auto& [key, value] : attributes.items()) {
      (*stage.mutable_volume_context())[key] = value.get<std::string>();
    }
    RETURN_IF_ERROR(kubelet->NodeStageVolume(stage));
  }
  csi::v1::NodePublishVolumeRequest publish;
  publish.set_volume_id(handle);
  if (stage_needed) publish.set_staging_target_path(staging);
  publish.set_target_path(target);
  *publish.mutable_volume_capability() = capability;
  publish.set_readonly(request.read_only);
  for (const auto& [key, value] : attributes.items()) {
    (*publish.mutable_volume_context())[key] = value.get<std::string>();
  }
  Status published = kubelet->NodePublishVolume(publish);
  if (!published.ok()) {
    if (stage_needed && !staged) {
      csi::v1::NodeUnstageVolumeRequest unstage;
      unstage.set_volume_id(handle);
      unstage.set_staging_target_path(staging);
      (void)kubelet->NodeUnstageVolume(unstage);
    }
    return published;
  }
  MountRecord record;
  record.target_path = target;
  record.namespace_name = request.namespace_name;
  record.claim_name = request.claim_name;
  record.volume_name = volume_name;
  record.volume_handle = handle;
  record.staging_path = stage_needed ? staging : "";
  record.block = request.block;
  record.read_only = request.read_only;
  record.created_ns = NowNanos();
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    RETURN_IF_ERROR(txn.PutMount(record));
    // Staging grew the filesystem of an expanded volume: the resize is done.
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kPersistentVolumeClaim, request.namespace_name, request.claim_name));
    if (current.has_value() && Find(*current, {"status", "conditions"}) != nullptr) {
      (*current)["status"].erase("conditions");
      (*current)["status"]["capacity"]["storage"] =
          GetString(*volume, {"spec", "capacity", "storage"});
      RETURN_IF_ERROR(txn.Update(*current));
    }
    return absl::OkStatus();
  }));
  return target;
}

Status UnpublishTarget(ControllerContext& ctx, const std::string& target_path) {
  std::vector<MountRecord> mounts;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(mounts, txn.ListMounts());
    return absl::OkStatus();
  }));
  const MountRecord* found = nullptr;
  int users = 0;
  for (const MountRecord& mount : mounts) {
    if (mount.target_path == target_path) found = &mount;
  }
  if (found == nullptr) {
    return absl::NotFoundError(fmt::format(
        "{} is not a volume mounted or attached by dittoctl (see dittoctl describe pvc NAME for "
        "where a claim is used)",
        target_path));
  }
  for (const MountRecord& mount : mounts) {
    if (mount.volume_name == found->volume_name) ++users;
  }
  csi::v1::NodeUnpublishVolumeRequest unpublish;
  unpublish.set_volume_id(found->volume_handle);
  unpublish.set_target_path(found->target_path);
  RETURN_IF_ERROR(ctx.CsiFor(unpublish.volume_id()).NodeUnpublishVolume(unpublish));
  // The driver removes an empty target; one that was there before the
  // mount comes back as it was.
  std::optional<std::string> kept;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(kept, txn.GetSetting(KeptDirectoryKey(target_path)));
    return absl::OkStatus();
  }));
  if (kept.has_value() && !ctx.host.Stat(target_path).ok()) {
    uint32_t mode = static_cast<uint32_t>(std::strtoul(kept->c_str(), nullptr, 8));
    RETURN_IF_ERROR(ctx.host.MakeDirectories(target_path, mode == 0 ? 0755 : mode));
    RETURN_IF_ERROR(ctx.host.SetMode(target_path, mode == 0 ? 0755 : mode));
  }
  if (users == 1 && !found->staging_path.empty()) {
    csi::v1::NodeUnstageVolumeRequest unstage;
    unstage.set_volume_id(found->volume_handle);
    unstage.set_staging_target_path(found->staging_path);
    RETURN_IF_ERROR(ctx.CsiFor(unstage.volume_id()).NodeUnstageVolume(unstage));
    Status removed = ctx.host.Remove(found->staging_path);
    if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  }
  std::string target = found->target_path;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    RETURN_IF_ERROR(txn.RemoveMount(target));
    if (kept.has_value()) RETURN_IF_ERROR(txn.RemoveSetting(KeptDirectoryKey(target)));
    return absl::OkStatus();
  }));
  return Reconcile(ctx);
}

StatusOr<std::string> AttachedTarget(ControllerContext& ctx, const std::string& ns,
                                     const std::string& claim_name) {
  std::vector<MountRecord> mounts;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(mounts, txn.ListMounts());
    return absl::OkStatus();
  }));
  for (const MountRecord& mount : mounts) {
    if (mount.namespace_name == ns && mount.claim_name == claim_name && mount.block) {
      return mount.target_path;
    }
  }
  return absl::NotFoundError(fmt::format("PVC {}/{} is not attached (dittoctl attach pvc/{} -n {})",
                                         ns, claim_name, claim_name, ns));
}

}  // namespace ditto::control
