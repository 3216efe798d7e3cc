#include "control/controllers/volumes.h"

#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

// Whether the claim the PV points at still exists and is the same object.
StatusOr<bool> ClaimStillThere(ControllerContext& ctx, const Json& volume) {
  const Json* ref = Find(volume, {"spec", "claimRef"});
  if (ref == nullptr || !ref->is_object()) return false;
  ASSIGN_OR_RETURN(std::optional<Json> claim,
                   GetObject(ctx.store, kPersistentVolumeClaim, GetString(*ref, {"namespace"}),
                             GetString(*ref, {"name"})));
  if (!claim.has_value()) return false;
  std::string uid = GetString(*ref, {"uid"});
  return uid.empty() || uid == Uid(*claim);
}

// Deletes the backing volume through CSI (reclaim policy Delete); false
// (with a Warning event) when the driver refused.
bool DeleteBackingVolume(ControllerContext& ctx, const Json& volume, const DriverInfo& info) {
  if (GetString(volume, {"spec", "csi", "driver"}) != info.name) {
    RecordEvent(ctx.store, volume, "Warning", "VolumeFailedDelete",
                fmt::format("volume {} belongs to CSI driver {}, not {}; delete it there",
                            Name(volume), GetString(volume, {"spec", "csi", "driver"}), info.name),
                kPvControllerSource);
    return false;
  }
  csi::v1::DeleteVolumeRequest request;
  request.set_volume_id(GetString(volume, {"spec", "csi", "volumeHandle"}));
  Status deleted = ctx.CsiFor(request.volume_id()).DeleteVolume(request);
  if (!deleted.ok()) {
    RecordEvent(ctx.store, volume, "Warning", "VolumeFailedDelete", std::string(deleted.message()),
                ctx.ProvisionerSource(info));
    return false;
  }
  return true;
}

Status RemoveVolumeObject(ControllerContext& ctx, const Json& volume) {
  return ctx.store.Transact([&](StoreTxn& txn) -> Status {
    RETURN_IF_ERROR(txn.Remove(kPersistentVolume, "", Name(volume)));
    return txn.RemoveEventsOf(kPersistentVolume, "", Name(volume));
  });
}

StatusOr<bool> ReconcileVolume(ControllerContext& ctx, const Json& volume, const DriverInfo& info) {
  std::string policy = GetString(volume, {"spec", "persistentVolumeReclaimPolicy"}, "Retain");
  std::string phase = GetString(volume, {"status", "phase"});
  bool has_claim_ref = Find(volume, {"spec", "claimRef"}) != nullptr;
  ASSIGN_OR_RETURN(bool claim_there, ClaimStillThere(ctx, volume));

  if (IsBeingDeleted(volume)) {
    if (claim_there) return false;  // pv-protection: still bound
    if (policy == "Delete" && HasFinalizer(volume, kProvisionerFinalizer) &&
        !DeleteBackingVolume(ctx, volume, info)) {
      return false;
    }
    RETURN_IF_ERROR(RemoveVolumeObject(ctx, volume));
    return true;
  }
  if (!has_claim_ref) {
    if (phase == "Available") return false;
    Json updated = volume;
    updated["status"]["phase"] = "Available";
    RETURN_IF_ERROR(UpdateObject(ctx.store, updated));
    return true;
  }
  if (claim_there) return false;
  // The claim is gone: Released, then reclaimed.
  if (phase != "Released" && phase != "Failed") {
    Json updated = volume;
    updated["status"]["phase"] = "Released";
    RETURN_IF_ERROR(UpdateObject(ctx.store, updated));
    return true;
  }
  if (policy == "Delete" && phase == "Released") {
    if (!DeleteBackingVolume(ctx, volume, info)) return false;
    RETURN_IF_ERROR(RemoveVolumeObject(ctx, volume));
    return true;
  }
  return false;  // Retain: the volume and its data stay until an admin deletes the PV
}

}  // namespace

StatusOr<bool> ReconcileVolumes(ControllerContext& ctx, const DriverInfo& info) {
  ASSIGN_OR_RETURN(std::vector<Json> volumes, ListObjects(ctx.store, kPersistentVolume));
  bool changed = false;
  for (const Json& volume : volumes) {
    StatusOr<bool> result = ReconcileVolume(ctx, volume, info);
    if (absl::IsAborted(result.status())) {
      changed = true;
      continue;
    }
    RETURN_IF_ERROR(result.status());
    changed |= *result;
  }
  return changed;
}

}  // namespace ditto::control
