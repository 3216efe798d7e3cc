#include "control/controllers/claims.h"

#include "common/quantity.h"
#include "control/apiserver/admission.h"
#include "control/controllers/data_source.h"
#include "control/api/kinds.h"
#include "control/controllers/modify.h"
#include "control/controllers/provisioner.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::ControllerServiceCapability_RPC;

StatusOr<std::vector<MountRecord>> MountsOf(StoreTxn& txn, const std::string& ns,
                                            const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<MountRecord> mounts, txn.ListMounts());
  std::vector<MountRecord> result;
  for (MountRecord& mount : mounts) {
    if (mount.namespace_name == ns && mount.claim_name == name) result.push_back(std::move(mount));
  }
  return result;
}

// Lets a claim being deleted go once no mount and no pending clone holds it.
StatusOr<bool> FinalizeClaim(ControllerContext& ctx, const Json& claim) {
  bool changed = false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!current.has_value()) return absl::OkStatus();
    Json& object = *current;
    bool edited = false;
    if (HasFinalizer(object, kPvcProtectionFinalizer)) {
      ASSIGN_OR_RETURN(auto mounts, MountsOf(txn, Namespace(object), Name(object)));
      if (mounts.empty()) edited |= RemoveFinalizer(object, kPvcProtectionFinalizer);
    }
    if (HasFinalizer(object, kCloningProtectionFinalizer)) {
      bool pending_clone = false;
      ASSIGN_OR_RETURN(std::vector<Json> claims, txn.List(kPersistentVolumeClaim, "", true));
      for (const Json& other : claims) {
        DataSourceRef ref = DataSourceOf(other);
        if (ref.IsClaim() && ref.name == Name(object) && ref.namespace_name == Namespace(object) &&
            GetString(other, {"status", "phase"}, "Pending") == "Pending") {
          pending_clone = true;
        }
      }
      if (!pending_clone) edited |= RemoveFinalizer(object, kCloningProtectionFinalizer);
    }
    const Json* finalizers = Find(object, {"metadata", "finalizers"});
    if (finalizers == nullptr || finalizers->empty()) {
      RETURN_IF_ERROR(txn.Remove(kPersistentVolumeClaim, Namespace(object), Name(object)));
      changed = true;
      return absl::OkStatus();
    }
    if (edited) {
      RETURN_IF_ERROR(txn.Update(object));
      changed = true;
    }
    return absl::OkStatus();
  }));
  return changed;
}

// Grows the volume when the claim asks for more than its PV has
// (external-resizer), then the filesystem if the volume is in use.
// Kept in one piece: external-resizer's steps for one claim (checks,
// ControllerExpandVolume, then the node's part online or at the next stage) in order.
StatusOr<bool> ExpandClaim(ControllerContext& ctx, const Json& claim, const Json& volume,
                           const DriverInfo& info) {
  int64_t requested = RequestedBytes(claim);
  int64_t current = QuantityAt(volume, {"spec", "capacity", "storage"});
  if (requested <= current) return false;
  std::string volume_name = Name(volume);
  if (!info.HasController(ControllerServiceCapability_RPC::EXPAND_VOLUME)) {
    RecordEvent(ctx.store, claim, "Warning", "VolumeResizeFailed",
                fmt::format("resize volume \"{}\" by resizer \"{}\" failed: the driver does not "
                            "report the EXPAND_VOLUME controller capability",
                            volume_name, info.name),
                kResizerSource);
    return false;
  }
  RecordEvent(ctx.store, claim, "Normal", "Resizing",
              fmt::format("External resizer is resizing volume {}", volume_name), kResizerSource);
  std::string fs_type = GetString(volume, {"spec", "csi", "fsType"});
  auto capabilities = VolumeCapabilities(volume["spec"], fs_type, {}, info);
  csi::v1::ControllerExpandVolumeRequest request;
  request.set_volume_id(GetString(volume, {"spec", "csi", "volumeHandle"}));
  request.mutable_capacity_range()->set_required_bytes(requested);
  if (!capabilities.empty()) *request.mutable_volume_capability() = capabilities.front();
  csi::v1::ControllerExpandVolumeResponse response;
  Status expanded = ctx.CsiFor(request.volume_id()).ControllerExpandVolume(request, &response);
  if (!expanded.ok()) {
    RecordEvent(ctx.store, claim, "Warning", "VolumeResizeFailed",
                fmt::format("resize volume \"{}\" by resizer \"{}\" failed: {}", volume_name,
                            info.name, std::string(expanded.message())),
                kResizerSource);
    return false;
  }
  int64_t new_size = std::max<int64_t>(response.capacity_bytes(), requested);
  bool node_needed = response.node_expansion_required();

  // Online: the filesystem grows now; offline: at the next NodeStageVolume.
  std::vector<MountRecord> mounts;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(mounts, MountsOf(txn, Namespace(claim), Name(claim)));
    return absl::OkStatus();
  }));
  bool resize_pending = false;
  if (node_needed && !mounts.empty()) {
    csi::v1::NodeExpandVolumeRequest node_request;
    node_request.set_volume_id(request.volume_id());
    node_request.set_volume_path(mounts.front().target_path);
    node_request.set_staging_target_path(mounts.front().staging_path);
    node_request.mutable_capacity_range()->set_required_bytes(new_size);
    if (!capabilities.empty()) *node_request.mutable_volume_capability() = capabilities.front();
    csi::v1::NodeExpandVolumeResponse node_response;
    Status grown = ctx.CsiFor(node_request.volume_id()).NodeExpandVolume(node_request, &node_response);
    if (!grown.ok()) {
      RecordEvent(ctx.store, claim, "Warning", "VolumeResizeFailed",
                  fmt::format("MountVolume.NodeExpandVolume failed for volume \"{}\": {}",
                              volume_name, std::string(grown.message())),
                  "kubelet");
      resize_pending = true;
    } else {
      RecordEvent(
          ctx.store, claim, "Normal", "FileSystemResizeSuccessful",
          fmt::format("MountVolume.NodeExpandVolume succeeded for volume \"{}\"", volume_name),
          "kubelet");
    }
  } else if (node_needed) {
    resize_pending = true;
    RecordEvent(ctx.store, claim, "Normal", "FileSystemResizeRequired",
                "Require file system resize of volume on node; it happens at the next mount",
                kResizerSource);
  }
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> pv, txn.Get(kPersistentVolume, "", volume_name));
    if (pv.has_value()) {
      (*pv)["spec"]["capacity"]["storage"] = FormatQuantity(new_size);
      RETURN_IF_ERROR(txn.Update(*pv));
    }
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!current.has_value()) return absl::OkStatus();
    Json& status = (*current)["status"];
    status["allocatedResources"]["storage"] = FormatQuantity(new_size);
    Json conditions = Json::array();
    if (resize_pending) {
      conditions.push_back({{"type", "FileSystemResizePending"},
                            {"status", "True"},
                            {"lastTransitionTime", NowTimestamp()},
                            {"message",
                             "Waiting for user to (re-)start a pod to finish file "
                             "system resize of volume on node."}});
    } else {
      status["capacity"]["storage"] = FormatQuantity(new_size);
    }
    if (conditions.empty()) {
      status.erase("conditions");
    } else {
      status["conditions"] = conditions;
    }
    return txn.Update(*current);
  }));
  RecordEvent(ctx.store, claim, "Normal", "VolumeResizeSuccessful",
              fmt::format("Resize volume {} succeeded", volume_name), kResizerSource);
  return true;
}

StatusOr<bool> ReconcileBoundClaim(ControllerContext& ctx, const Json& claim,
                                   const DriverInfo& info) {
  std::string volume_name = GetString(claim, {"spec", "volumeName"});
  ASSIGN_OR_RETURN(std::optional<Json> volume,
                   GetObject(ctx.store, kPersistentVolume, "", volume_name));
  if (!volume.has_value()) {
    if (GetString(claim, {"status", "phase"}) == "Lost") return false;
    Json lost = claim;
    lost["status"]["phase"] = "Lost";
    Status updated = UpdateObject(ctx.store, lost);
    if (absl::IsAborted(updated)) return true;
    RETURN_IF_ERROR(updated);
    RecordEvent(ctx.store, claim, "Warning", "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                kPvControllerSource);
    return true;
  }
  ASSIGN_OR_RETURN(bool expanded, ExpandClaim(ctx, claim, *volume, info));
  if (expanded) return true;  // the next pass sees the updated claim
  return ModifyClaim(ctx, claim, *volume, info);
}

StatusOr<bool> ReconcilePendingClaim(ControllerContext& ctx, const Json& claim,
                                     const DriverInfo& info) {
  const Json* class_field = Find(claim, {"spec", "storageClassName"});
  if (class_field == nullptr || class_field->is_null()) {
    // storageClassName omitted: the default class (also retroactively).
    std::optional<Json> default_class;
    RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
      ASSIGN_OR_RETURN(default_class, DefaultStorageClass(txn));
      return absl::OkStatus();
    }));
    if (!default_class.has_value()) {
      RecordEvent(ctx.store, claim, "Normal", "FailedBinding",
                  "no persistent volumes available for this claim and no storage class is set; "
                  "set spec.storageClassName or mark a StorageClass as the default",
                  kPvControllerSource);
      return false;
    }
    Json updated = claim;
    updated["spec"]["storageClassName"] = Name(*default_class);
    Status status = UpdateObject(ctx.store, updated);
    if (!absl::IsAborted(status)) RETURN_IF_ERROR(status);
    return true;
  }
  std::string class_name = class_field->is_string() ? class_field->get<std::string>() : "";
  if (class_name.empty()) {
    RecordEvent(ctx.store, claim, "Normal", "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
                kPvControllerSource);
    return false;
  }
  ASSIGN_OR_RETURN(std::optional<Json> storage_class,
                   GetObject(ctx.store, kStorageClass, "", class_name));
  if (!storage_class.has_value()) {
    RecordEvent(ctx.store, claim, "Warning", "ProvisioningFailed",
                fmt::format("storageclass.storage.k8s.io \"{}\" not found; create it or set "
                            "spec.storageClassName to an existing class (dittoctl get sc)",
                            class_name),
                kPvControllerSource);
    return false;
  }
  std::string provisioner = GetString(*storage_class, {"provisioner"});
  if (provisioner != info.name) {
    RecordEvent(ctx.store, claim, "Normal", "ExternalProvisioning",
                fmt::format("Waiting for a volume to be created either by the external "
                            "provisioner '{}' or manually by the system administrator. If volume "
                            "creation is delayed, please verify that the provisioner is running "
                            "and correctly registered.",
                            provisioner),
                kPvControllerSource);
    return false;
  }
  if (GetString(*storage_class, {"volumeBindingMode"}, "Immediate") == "WaitForFirstConsumer" &&
      GetAnnotation(claim, kSelectedNodeAnnotation).empty()) {
    RecordEvent(ctx.store, claim, "Normal", "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding (dittoctl mount or "
                "attach is the consumer)",
                kPvControllerSource);
    return false;
  }
  return ProvisionClaim(ctx, claim, *storage_class, info);
}

}  // namespace

StatusOr<std::string> ClaimHeldBy(StoreTxn& txn, const Json& claim) {
  if (HasFinalizer(claim, kPvcProtectionFinalizer)) {
    ASSIGN_OR_RETURN(auto mounts, MountsOf(txn, Namespace(claim), Name(claim)));
    if (!mounts.empty()) {
      return fmt::format("it is in use: mounted at {} (dittoctl unmount {})",
                         mounts.front().target_path, mounts.front().target_path);
    }
  }
  if (HasFinalizer(claim, kCloningProtectionFinalizer)) {
    ASSIGN_OR_RETURN(std::vector<Json> claims, txn.List(kPersistentVolumeClaim, "", true));
    for (const Json& other : claims) {
      DataSourceRef ref = DataSourceOf(other);
      if (ref.IsClaim() && ref.name == Name(claim) && ref.namespace_name == Namespace(claim) &&
          GetString(other, {"status", "phase"}, "Pending") == "Pending") {
        return fmt::format(
            "PVC {} is Pending with it as its data source (cloning in progress); "
            "it is released when that PVC is Bound or deleted",
            Key(other));
      }
    }
  }
  return std::string();
}

StatusOr<bool> ReconcileClaims(ControllerContext& ctx, const DriverInfo& info) {
  ASSIGN_OR_RETURN(std::vector<Json> claims, ListObjects(ctx.store, kPersistentVolumeClaim));
  bool changed = false;
  for (const Json& claim : claims) {
    StatusOr<bool> result = false;
    if (IsBeingDeleted(claim)) {
      result = FinalizeClaim(ctx, claim);
    } else if (!GetString(claim, {"spec", "volumeName"}).empty()) {
      result = ReconcileBoundClaim(ctx, claim, info);
    } else {
      result = ReconcilePendingClaim(ctx, claim, info);
    }
    if (absl::IsAborted(result.status())) {
      changed = true;  // someone else changed it meanwhile: look again
      continue;
    }
    RETURN_IF_ERROR(result.status());
    changed |= *result;
  }
  return changed;
}

}  // namespace ditto::control
