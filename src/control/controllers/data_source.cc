#include "control/controllers/data_source.h"

#include "common/quantity.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

Status Rule(std::string message) { return absl::FailedPreconditionError(std::move(message)); }

std::string VolumeModeOf(const Json& object) {
  return GetString(object, {"spec", "volumeMode"}, "Filesystem");
}

// Kept in one piece: external-provisioner's cloning rules, one
// early return each; their order decides which message a claim breaking several gets.
StatusOr<ResolvedSource> ResolveClaimSource(StoreTxn& txn, const Json& claim,
                                            const DataSourceRef& ref, const Json& storage_class,
                                            const DriverInfo& info) {
  const std::string& name = ref.name;
  ASSIGN_OR_RETURN(std::optional<Json> source,
                   txn.Get(kPersistentVolumeClaim, ref.namespace_name, name));
  if (!source.has_value()) {
    // A claim of that name elsewhere is the usual mistake: say where.
    std::string elsewhere;
    ASSIGN_OR_RETURN(std::vector<Json> all, txn.List(kPersistentVolumeClaim, "", true));
    for (const Json& other : all) {
      if (Name(other) == name && Namespace(other) != ref.namespace_name) {
        elsewhere += (elsewhere.empty() ? "" : ", ") + Namespace(other);
      }
    }
    std::string hint =
        elsewhere.empty()
            ? "create it or fix spec.dataSource.name"
            : fmt::format(
                  "a PVC {} exists in namespace {}: create the clone there, or clone across "
                  "namespaces with spec.dataSourceRef.namespace and a ReferenceGrant in the "
                  "source's namespace",
                  name, elsewhere);
    return Rule(fmt::format(
        "error getting PVC {} (namespace \"{}\"): persistentvolumeclaims \"{}\" not found; the "
        "source must be an existing PVC in the same namespace as the clone: {}",
        name, ref.namespace_name, name, hint));
  }
  std::string phase = GetString(*source, {"status", "phase"}, "Pending");
  if (phase != "Bound") {
    return Rule(fmt::format(
        "the PVC DataSource {} must have a status of Bound.  Got {}; the clone is provisioned "
        "once the source is Bound",
        name, phase));
  }
  if (IsBeingDeleted(*source)) {
    return Rule(fmt::format(
        "the PVC DataSource {} is currently being deleted; clone another PVC or recreate the "
        "source",
        name));
  }
  int64_t requested = RequestedBytes(claim);
  int64_t source_size =
      std::max(QuantityAt(*source, {"status", "capacity", "storage"}), RequestedBytes(*source));
  if (requested < source_size) {
    return Rule(fmt::format(
        "error, new PVC request must be greater than or equal in size to the specified PVC data "
        "source, requested {} but source is {}; set spec.resources.requests.storage to at least "
        "{}",
        FormatQuantity(requested), FormatQuantity(source_size), FormatQuantity(source_size)));
  }
  std::string volume_name = GetString(*source, {"spec", "volumeName"});
  if (volume_name.empty()) {
    return Rule(fmt::format("volume name is empty in source PVC {}", name));
  }
  ASSIGN_OR_RETURN(std::optional<Json> volume, txn.Get(kPersistentVolume, "", volume_name));
  if (!volume.has_value() || Find(*volume, {"spec", "csi"}) == nullptr) {
    return Rule(
        fmt::format("claim in dataSource not bound or invalid: the volume {} of PVC {} "
                    "is missing or is not a CSI volume",
                    volume_name, name));
  }
  const Json& claim_ref = (*volume)["spec"].value("claimRef", Json::object());
  if (GetString(claim_ref, {"uid"}) != Uid(*source) ||
      GetString(claim_ref, {"name"}) != Name(*source) ||
      GetString(claim_ref, {"namespace"}) != Namespace(*source) ||
      GetString(*volume, {"status", "phase"}) != "Bound") {
    return Rule(fmt::format(
        "claim in dataSource not bound or invalid: the volume {} is not bound to PVC {}/{}",
        volume_name, ref.namespace_name, name));
  }
  std::string source_driver = GetString(*volume, {"spec", "csi", "driver"});
  std::string provisioner = GetString(storage_class, {"provisioner"});
  if (source_driver != provisioner) {
    return Rule(fmt::format(
        "claim in dataSource not bound or invalid: the source volume {} is handled by CSI driver "
        "{}, a different driver than {} requested by StorageClass {}; clone with a StorageClass "
        "whose provisioner is {}",
        volume_name, source_driver, provisioner, Name(storage_class), source_driver));
  }
  std::string wanted_mode = VolumeModeOf(claim);
  std::string source_mode = GetString(*volume, {"spec", "volumeMode"}, "Filesystem");
  if (wanted_mode != source_mode) {
    return Rule(fmt::format(
        "the source PVC and destination PVCs must have the same volume mode for cloning.  Source "
        "is {}, but new PVC requested {}; set spec.volumeMode: {}",
        source_mode, wanted_mode, source_mode));
  }
  ResolvedSource resolved;
  resolved.content.mutable_volume()->set_volume_id(
      GetString(*volume, {"spec", "csi", "volumeHandle"}));
  resolved.is_clone = true;
  (void)info;
  return resolved;
}

StatusOr<ResolvedSource> ResolveSnapshotSource(StoreTxn& txn, const Json& claim,
                                               const DataSourceRef& ref,
                                               const Json& storage_class) {
  const std::string& name = ref.name;
  ASSIGN_OR_RETURN(std::optional<Json> snapshot,
                   txn.Get(kVolumeSnapshot, ref.namespace_name, name));
  if (!snapshot.has_value()) {
    return Rule(fmt::format(
        "error getting snapshot {} from api server: volumesnapshots.snapshot.storage.k8s.io "
        "\"{}\" not found; create the VolumeSnapshot in namespace {} or fix the data source name",
        name, name, ref.namespace_name));
  }
  if (IsBeingDeleted(*snapshot)) {
    return Rule(fmt::format("snapshot {} is currently being deleted", name));
  }
  std::string content_name = GetString(*snapshot, {"status", "boundVolumeSnapshotContentName"});
  if (content_name.empty()) {
    return Rule(fmt::format("snapshot {} not bound; the volume is restored once it is", name));
  }
  ASSIGN_OR_RETURN(std::optional<Json> content, txn.Get(kVolumeSnapshotContent, "", content_name));
  if (!content.has_value() ||
      GetString(*content, {"spec", "volumeSnapshotRef", "uid"}) != Uid(*snapshot)) {
    return Rule(fmt::format("snapshot {} not bound", name));
  }
  std::string provisioner = GetString(storage_class, {"provisioner"});
  if (GetString(*content, {"spec", "driver"}) != provisioner) {
    return Rule(fmt::format(
        "snapshot {} not bound: its content is handled by CSI driver {}, not by {} requested by "
        "StorageClass {}",
        name, GetString(*content, {"spec", "driver"}), provisioner, Name(storage_class)));
  }
  if (!GetBool(*snapshot, {"status", "readyToUse"})) {
    return Rule(fmt::format("snapshot {} is not Ready", name));
  }
  std::string handle = GetString(*content, {"status", "snapshotHandle"});
  if (handle.empty()) return Rule(fmt::format("snapshot handle {} is not available", name));
  int64_t restore_size = QuantityAt(*snapshot, {"status", "restoreSize"});
  int64_t requested = RequestedBytes(claim);
  if (requested < restore_size) {
    return Rule(fmt::format(
        "requested volume size {} is less than the size {} for the source snapshot {}; set "
        "spec.resources.requests.storage to at least {}",
        requested, restore_size, name, FormatQuantity(restore_size)));
  }
  ResolvedSource resolved;
  resolved.content.mutable_snapshot()->set_snapshot_id(handle);
  return resolved;
}

}  // namespace

DataSourceRef DataSourceOf(const Json& claim) {
  DataSourceRef ref;
  ref.namespace_name = Namespace(claim);
  const Json* source = Find(claim, {"spec", "dataSourceRef"});
  if (source == nullptr || !source->is_object()) source = Find(claim, {"spec", "dataSource"});
  if (source == nullptr || !source->is_object()) return ref;
  ref.api_group = GetString(*source, {"apiGroup"});
  ref.kind = GetString(*source, {"kind"});
  ref.name = GetString(*source, {"name"});
  std::string ns = GetString(*source, {"namespace"});
  if (!ns.empty()) ref.namespace_name = ns;
  return ref;
}

StatusOr<bool> ReferenceGranted(StoreTxn& txn, const std::string& from_namespace,
                                const std::string& to_namespace, const std::string& to_group,
                                const std::string& to_kind, const std::string& to_name) {
  ASSIGN_OR_RETURN(std::vector<Json> grants, txn.List(kReferenceGrant, to_namespace));
  for (const Json& grant : grants) {
    bool from_ok = false;
    for (const Json& from : grant["spec"].value("from", Json::array())) {
      if (GetString(from, {"group"}) == "" && GetString(from, {"kind"}) == kPersistentVolumeClaim &&
          GetString(from, {"namespace"}) == from_namespace) {
        from_ok = true;
      }
    }
    if (!from_ok) continue;
    for (const Json& to : grant["spec"].value("to", Json::array())) {
      std::string name = GetString(to, {"name"});
      if (GetString(to, {"group"}) == to_group && GetString(to, {"kind"}) == to_kind &&
          (name.empty() || name == to_name)) {
        return true;
      }
    }
  }
  return false;
}

StatusOr<ResolvedSource> ResolveDataSource(StoreTxn& txn, const Json& claim,
                                           const Json& storage_class, const DriverInfo& info) {
  DataSourceRef ref = DataSourceOf(claim);
  if (ref.namespace_name != Namespace(claim)) {
    ASSIGN_OR_RETURN(bool granted, ReferenceGranted(txn, Namespace(claim), ref.namespace_name,
                                                    ref.api_group, ref.kind, ref.name));
    if (!granted) {
      return Rule(fmt::format(
          "accessing {}/{} of {} dataSource from {}/{} isn't allowed; a clone must be in the "
          "same namespace as its source, unless a ReferenceGrant "
          "(gateway.networking.k8s.io/v1beta1) in namespace {} allows PersistentVolumeClaims "
          "from namespace {} to use it",
          ref.namespace_name, ref.name, ref.kind, Namespace(claim), Name(claim), ref.namespace_name,
          Namespace(claim)));
    }
  }
  if (ref.IsClaim()) return ResolveClaimSource(txn, claim, ref, storage_class, info);
  return ResolveSnapshotSource(txn, claim, ref, storage_class);
}

}  // namespace ditto::control
