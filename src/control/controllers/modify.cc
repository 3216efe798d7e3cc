#include "control/controllers/modify.h"

#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::ControllerServiceCapability_RPC;

// Records status.modifyVolumeStatus (target and state: Pending, InProgress,
// Infeasible) unless it already says that.
StatusOr<bool> SetModifyStatus(ControllerContext& ctx, const Json& claim, const std::string& target,
                               const std::string& state) {
  Json wanted = {{"targetVolumeAttributesClassName", target}, {"status", state}};
  const Json* current = Find(claim, {"status", "modifyVolumeStatus"});
  if (current != nullptr && *current == wanted) return false;
  bool changed = false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> fresh,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!fresh.has_value()) return absl::OkStatus();
    (*fresh)["status"]["modifyVolumeStatus"] = wanted;
    changed = true;
    return txn.Update(*fresh);
  }));
  return changed;
}

}  // namespace

StatusOr<bool> ModifyClaim(ControllerContext& ctx, const Json& claim, const Json& volume,
                           const DriverInfo& info) {
  std::string target = GetString(claim, {"spec", "volumeAttributesClassName"});
  std::string current = GetString(claim, {"status", "currentVolumeAttributesClassName"});
  if (target.empty() || target == current) return false;
  // Infeasible stays so until the claim names another class.
  if (GetString(claim, {"status", "modifyVolumeStatus", "status"}) == "Infeasible" &&
      GetString(claim, {"status", "modifyVolumeStatus", "targetVolumeAttributesClassName"}) ==
          target) {
    return false;
  }
  std::string volume_name = Name(volume);
  if (!info.HasController(ControllerServiceCapability_RPC::MODIFY_VOLUME)) {
    RecordEvent(ctx.store, claim, "Warning", "VolumeModifyFailed",
                fmt::format("modify volume \"{}\" failed: the driver {} does not report the "
                            "MODIFY_VOLUME controller capability",
                            volume_name, info.name),
                kResizerSource);
    return SetModifyStatus(ctx, claim, target, "Infeasible");
  }
  ASSIGN_OR_RETURN(std::optional<Json> vac,
                   GetObject(ctx.store, kVolumeAttributesClass, "", target));
  if (!vac.has_value()) {
    // Pending until the class exists (the API server's rule).
    return SetModifyStatus(ctx, claim, target, "Pending");
  }
  if (GetString(*vac, {"driverName"}) != info.name) {
    RecordEvent(ctx.store, claim, "Warning", "VolumeModifyFailed",
                fmt::format("VolumeAttributesClass {} is for driver {}, not {}", target,
                            GetString(*vac, {"driverName"}), info.name),
                kResizerSource);
    return SetModifyStatus(ctx, claim, target, "Infeasible");
  }

  RecordEvent(ctx.store, claim, "Normal", "VolumeModify",
              fmt::format("external resizer is modifying volume {} with vac {}", volume_name,
                          target),
              kResizerSource);
  csi::v1::ControllerModifyVolumeRequest request;
  request.set_volume_id(GetString(volume, {"spec", "csi", "volumeHandle"}));
  const Json parameters = vac->value("parameters", Json::object());
  for (const auto& [key, value] : parameters.items()) {
    (*request.mutable_mutable_parameters())[key] = value.get<std::string>();
  }
  Status modified = ctx.CsiFor(request.volume_id()).ControllerModifyVolume(request);
  if (!modified.ok()) {
    RecordEvent(ctx.store, claim, "Warning", "VolumeModifyFailed",
                fmt::format("modify volume \"{}\" with vac {} failed: {}", volume_name, target,
                            std::string(modified.message())),
                kResizerSource);
    // INVALID_ARGUMENT: these parameters never work; anything else (no
    // space, busy) may work later and is retried.
    bool infeasible = absl::IsInvalidArgument(modified) || absl::IsOutOfRange(modified);
    return SetModifyStatus(ctx, claim, target, infeasible ? "Infeasible" : "InProgress");
  }
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> pv, txn.Get(kPersistentVolume, "", volume_name));
    if (pv.has_value()) {
      (*pv)["spec"]["volumeAttributesClassName"] = target;
      RETURN_IF_ERROR(txn.Update(*pv));
    }
    ASSIGN_OR_RETURN(std::optional<Json> fresh,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!fresh.has_value()) return absl::OkStatus();
    (*fresh)["status"]["currentVolumeAttributesClassName"] = target;
    (*fresh)["status"].erase("modifyVolumeStatus");
    return txn.Update(*fresh);
  }));
  RecordEvent(ctx.store, claim, "Normal", "VolumeModifySuccessful",
              fmt::format("external resizer modified volume {} with vac {} successfully",
                          volume_name, target),
              kResizerSource);
  return true;
}

}  // namespace ditto::control
