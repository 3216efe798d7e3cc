#include "control/controllers/provisioner.h"

#include "common/quantity.h"
#include "control/controllers/data_source.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::ControllerServiceCapability_RPC;
using csi::v1::VolumeCapability;

constexpr char kParameterPrefix[] = "csi.storage.k8s.io/";
constexpr char kFsTypeKey[] = "csi.storage.k8s.io/fstype";

// The reserved keys external-provisioner understands (and strips).
bool IsKnownPrefixedKey(const std::string& key) {
  static const char* const kKnown[] = {"fstype",
                                       "secret-name",
                                       "secret-namespace",
                                       "provisioner-secret-name",
                                       "provisioner-secret-namespace",
                                       "controller-publish-secret-name",
                                       "controller-publish-secret-namespace",
                                       "node-stage-secret-name",
                                       "node-stage-secret-namespace",
                                       "node-publish-secret-name",
                                       "node-publish-secret-namespace",
                                       "controller-expand-secret-name",
                                       "controller-expand-secret-namespace",
                                       "node-expand-secret-name",
                                       "node-expand-secret-namespace"};
  for (const char* known : kKnown) {
    if (key == std::string(kParameterPrefix) + known) return true;
  }
  return false;
}

std::string FailedMessage(const Json& storage_class, const std::string& why) {
  return fmt::format("failed to provision volume with StorageClass \"{}\": {}", Name(storage_class),
                     why);
}

void Failed(ControllerContext& ctx, const Json& claim, const Json& storage_class,
            const DriverInfo& info, const std::string& why) {
  RecordEvent(ctx.store, claim, "Warning", "ProvisioningFailed", FailedMessage(storage_class, why),
              ctx.ProvisionerSource(info));
}

// Adds cloning-protection to the source claim, as setCloneFinalizer does.
Status ProtectSource(ControllerContext& ctx, const DataSourceRef& ref) {
  return ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> source,
                     txn.Get(kPersistentVolumeClaim, ref.namespace_name, ref.name));
    if (!source.has_value() || !AddFinalizer(*source, kCloningProtectionFinalizer)) {
      return absl::OkStatus();
    }
    return txn.Update(*source);
  });
}

Json NodeAffinity(const google::protobuf::RepeatedPtrField<csi::v1::Topology>& topologies) {
  Json terms = Json::array();
  for (const csi::v1::Topology& topology : topologies) {
    Json expressions = Json::array();
    for (const auto& [key, value] : topology.segments()) {
      expressions.push_back({{"key", key}, {"operator", "In"}, {"values", {value}}});
    }
    terms.push_back({{"matchExpressions", expressions}});
  }
  if (terms.empty()) return nullptr;
  return {{"required", {{"nodeSelectorTerms", terms}}}};
}

}  // namespace

VolumeCapability::AccessMode::Mode CsiAccessMode(const std::string& mode, const DriverInfo& info) {
  bool multi_writer = info.HasController(ControllerServiceCapability_RPC::SINGLE_NODE_MULTI_WRITER);
  if (mode == "ReadWriteOnce") {
    return multi_writer ? VolumeCapability::AccessMode::SINGLE_NODE_MULTI_WRITER
                        : VolumeCapability::AccessMode::SINGLE_NODE_WRITER;
  }
  if (mode == "ReadWriteOncePod") {
    return multi_writer ? VolumeCapability::AccessMode::SINGLE_NODE_SINGLE_WRITER
                        : VolumeCapability::AccessMode::SINGLE_NODE_WRITER;
  }
  if (mode == "ReadOnlyMany") return VolumeCapability::AccessMode::MULTI_NODE_READER_ONLY;
  if (mode == "ReadWriteMany") return VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER;
  return VolumeCapability::AccessMode::UNKNOWN;
}

std::vector<VolumeCapability> VolumeCapabilities(const Json& spec, const std::string& fs_type,
                                                 const std::vector<std::string>& mount_flags,
                                                 const DriverInfo& info) {
  std::vector<VolumeCapability> capabilities;
  bool block = GetString(spec, {"volumeMode"}, "Filesystem") == "Block";
  for (const Json& mode : spec.value("accessModes", Json::array())) {
    VolumeCapability capability;
    if (block) {
      capability.mutable_block();
    } else {
      capability.mutable_mount()->set_fs_type(fs_type);
      for (const std::string& flag : mount_flags) capability.mutable_mount()->add_mount_flags(flag);
    }
    capability.mutable_access_mode()->set_mode(CsiAccessMode(mode.get<std::string>(), info));
    capabilities.push_back(std::move(capability));
  }
  return capabilities;
}

StatusOr<bool> ProvisionClaim(ControllerContext& ctx, const Json& claim, const Json& storage_class,
                              const DriverInfo& info) {
  if (!info.controller_service) {
    Failed(ctx, claim, storage_class, info,
           "CSI driver does not support dynamic provisioning: plugin CONTROLLER_SERVICE "
           "capability is not reported");
    return false;
  }
  if (!info.HasController(ControllerServiceCapability_RPC::CREATE_DELETE_VOLUME)) {
    Failed(ctx, claim, storage_class, info,
           "CSI driver does not support dynamic provisioning: controller CREATE_DELETE_VOLUME "
           "capability is not reported");
    return false;
  }
  DataSourceRef ref = DataSourceOf(claim);
  if (!ref.kind.empty() && !ref.IsClaim() && !ref.IsSnapshot()) {
    RecordEvent(ctx.store, claim, "Normal", "Provisioning",
                "Assuming an external populator will provision the volume",
                ctx.ProvisionerSource(info));
    return false;
  }
  if (ref.IsClaim() && !info.HasController(ControllerServiceCapability_RPC::CLONE_VOLUME)) {
    Failed(ctx, claim, storage_class, info,
           fmt::format("CSI driver does not support clone operations: controller CLONE_VOLUME "
                       "capability is not reported; driver {} cannot clone PVC {}, so remove "
                       "spec.dataSource or use a StorageClass whose driver can clone",
                       info.name, ref.name));
    return false;
  }
  if (ref.IsSnapshot() &&
      !info.HasController(ControllerServiceCapability_RPC::CREATE_DELETE_SNAPSHOT)) {
    Failed(ctx, claim, storage_class, info,
           "CSI driver does not support snapshot restore: controller CREATE_DELETE_SNAPSHOT "
           "capability is not reported");
    return false;
  }

  // A VolumeAttributesClass named at creation: its parameters become the
  // request's mutable_parameters (external-provisioner's rules).
  std::string attributes_class = GetString(claim, {"spec", "volumeAttributesClassName"});
  google::protobuf::Map<std::string, std::string> mutable_parameters;
  if (!attributes_class.empty()) {
    if (!info.HasController(ControllerServiceCapability_RPC::MODIFY_VOLUME)) {
      Failed(ctx, claim, storage_class, info,
             fmt::format("VolumeAttributesClass {} is set but the CSI driver does not report the "
                         "MODIFY_VOLUME controller capability; remove "
                         "spec.volumeAttributesClassName",
                         attributes_class));
      return false;
    }
    ASSIGN_OR_RETURN(std::optional<Json> vac,
                     GetObject(ctx.store, kVolumeAttributesClass, "", attributes_class));
    if (!vac.has_value()) {
      Failed(ctx, claim, storage_class, info,
             fmt::format("VolumeAttributesClass \"{}\" not found; create it or name another "
                         "class in spec.volumeAttributesClassName",
                         attributes_class));
      return false;
    }
    if (GetString(*vac, {"driverName"}) != info.name) {
      Failed(ctx, claim, storage_class, info,
             fmt::format("VolumeAttributesClass {} is for driver {}, not {}", attributes_class,
                         GetString(*vac, {"driverName"}), info.name));
      return false;
    }
    const Json vac_parameters = vac->value("parameters", Json::object());
    for (const auto& [key, value] : vac_parameters.items()) {
      mutable_parameters[key] = value.get<std::string>();
    }
  }

  // Parameters: the class's, without the reserved csi.storage.k8s.io/ keys.
  std::string fs_type;
  google::protobuf::Map<std::string, std::string> parameters;
  const Json class_parameters = storage_class.value("parameters", Json::object());
  for (const auto& [key, value] : class_parameters.items()) {
    if (key.rfind(kParameterPrefix, 0) == 0) {
      if (!IsKnownPrefixedKey(key)) {
        Failed(ctx, claim, storage_class, info,
               fmt::format("failed to strip CSI Parameters of prefixed keys: found unknown "
                           "parameter key \"{}\" with reserved namespace {}; remove it from the "
                           "StorageClass",
                           key, kParameterPrefix));
        return false;
      }
      if (key == kFsTypeKey) fs_type = value.get<std::string>();
      continue;
    }
    parameters[key] = value.get<std::string>();
  }
  bool block = GetString(claim, {"spec", "volumeMode"}, "Filesystem") == "Block";
  // The driver's own "fsType" parameter also names the filesystem.
  if (fs_type.empty() && parameters.contains("fsType")) fs_type = parameters.at("fsType");
  if (fs_type.empty() && !block) fs_type = "ext4";
  if (block) fs_type.clear();

  ResolvedSource source;
  if (!ref.kind.empty()) {
    Status resolved = ctx.store.Transact([&](StoreTxn& txn) -> Status {
      ASSIGN_OR_RETURN(source, ResolveDataSource(txn, claim, storage_class, info));
      return absl::OkStatus();
    });
    if (absl::IsFailedPrecondition(resolved)) {
      Failed(ctx, claim, storage_class, info,
             fmt::format("error getting handle for DataSource Type {} by Name {}: {}", ref.kind,
                         ref.name, std::string(resolved.message())));
      return false;
    }
    RETURN_IF_ERROR(resolved);
    if (source.is_clone) RETURN_IF_ERROR(ProtectSource(ctx, ref));
  }

  std::string volume_name = fmt::format("pvc-{}", Uid(claim));
  RecordEvent(
      ctx.store, claim, "Normal", "Provisioning",
      fmt::format("External provisioner is provisioning volume for claim \"{}\"", Key(claim)),
      ctx.ProvisionerSource(info));

  std::vector<std::string> mount_flags;
  for (const Json& flag : storage_class.value("mountOptions", Json::array())) {
    mount_flags.push_back(flag.get<std::string>());
  }
  csi::v1::CreateVolumeRequest request;
  request.set_name(volume_name);
  int64_t requested = RequestedBytes(claim);
  request.mutable_capacity_range()->set_required_bytes(requested);
  for (auto& capability : VolumeCapabilities(claim["spec"], fs_type, mount_flags, info)) {
    *request.add_volume_capabilities() = std::move(capability);
  }
  *request.mutable_parameters() = parameters;
  // As external-provisioner's --extra-create-metadata: who the volume is for.
  (*request.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = Name(claim);
  (*request.mutable_parameters())["csi.storage.k8s.io/pvc/namespace"] = Namespace(claim);
  (*request.mutable_parameters())["csi.storage.k8s.io/pv/name"] = volume_name;
  *request.mutable_mutable_parameters() = mutable_parameters;
  if (!ref.kind.empty()) *request.mutable_volume_content_source() = source.content;
  if (info.accessible_topology.segments_size() > 0) {
    *request.mutable_accessibility_requirements()->add_requisite() = info.accessible_topology;
    *request.mutable_accessibility_requirements()->add_preferred() = info.accessible_topology;
  }
  csi::v1::CreateVolumeResponse response;
  Status created = ctx.csi.CreateVolume(request, &response);
  if (!created.ok()) {
    Failed(ctx, claim, storage_class, info, std::string(created.message()));
    return false;
  }
  const csi::v1::Volume& volume = response.volume();
  int64_t capacity = volume.capacity_bytes() == 0 ? requested : volume.capacity_bytes();
  std::string problem;
  if (capacity < requested) {
    problem = fmt::format("created volume capacity {} less than requested capacity {}", capacity,
                          requested);
  } else if (!ref.kind.empty() && !volume.has_content_source()) {
    problem = "volume content source missing";
  }
  if (!problem.empty()) {
    csi::v1::DeleteVolumeRequest cleanup;
    cleanup.set_volume_id(volume.volume_id());
    Status deleted = ctx.csi.DeleteVolume(cleanup);
    if (!deleted.ok()) {
      problem += fmt::format(". cleanup of volume {} failed, volume is orphaned: {}", volume_name,
                             std::string(deleted.message()));
    }
    Failed(ctx, claim, storage_class, info, problem);
    return false;
  }

  // The PV, bound to the claim in the same transaction that binds the claim.
  Json pv = {
      {"apiVersion", "v1"},
      {"kind", kPersistentVolume},
      {"metadata",
       {{"name", volume_name},
        {"annotations", {{kProvisionedByAnnotation, info.name}}},
        {"finalizers", {kPvProtectionFinalizer, kProvisionerFinalizer}}}},
      {"spec",
       {{"accessModes", claim["spec"]["accessModes"]},
        {"capacity", {{"storage", FormatQuantity(capacity)}}},
        {"claimRef",
         {{"apiVersion", "v1"},
          {"kind", kPersistentVolumeClaim},
          {"name", Name(claim)},
          {"namespace", Namespace(claim)},
          {"uid", Uid(claim)}}},
        {"csi",
         {{"driver", info.name},
          {"volumeHandle", volume.volume_id()},
          {"volumeAttributes", Json::object()}}},
        {"persistentVolumeReclaimPolicy", GetString(storage_class, {"reclaimPolicy"}, "Delete")},
        {"storageClassName", Name(storage_class)},
        {"volumeMode", block ? "Block" : "Filesystem"}}},
      {"status", {{"phase", "Bound"}}}};
  if (!block) pv["spec"]["csi"]["fsType"] = fs_type;
  for (const auto& [key, value] : volume.volume_context()) {
    pv["spec"]["csi"]["volumeAttributes"][key] = value;
  }
  pv["spec"]["csi"]["volumeAttributes"]["storage.kubernetes.io/csiProvisionerIdentity"] = info.name;
  if (!mount_flags.empty()) pv["spec"]["mountOptions"] = mount_flags;
  if (!attributes_class.empty()) pv["spec"]["volumeAttributesClassName"] = attributes_class;
  Json affinity = NodeAffinity(volume.accessible_topology());
  if (!affinity.is_null()) pv["spec"]["nodeAffinity"] = affinity;

  bool orphaned = false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!current.has_value() || Uid(*current) != Uid(claim) || IsBeingDeleted(*current)) {
      orphaned = true;  // deleted while we provisioned: the volume goes too
      return absl::OkStatus();
    }
    if (!GetString(*current, {"spec", "volumeName"}).empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<Json> existing, txn.Get(kPersistentVolume, "", volume_name));
    if (!existing.has_value()) {
      pv["spec"]["claimRef"]["resourceVersion"] =
          GetString(*current, {"metadata", "resourceVersion"});
      RETURN_IF_ERROR(txn.Create(pv));
    }
    Json& updated = *current;
    updated["spec"]["volumeName"] = volume_name;
    SetAnnotation(updated, kBindCompletedAnnotation, "yes");
    SetAnnotation(updated, kBoundByControllerAnnotation, "yes");
    SetAnnotation(updated, kStorageProvisionerAnnotation, info.name);
    SetAnnotation(updated, kBetaStorageProvisionerAnnotation, info.name);
    updated["status"] = {{"phase", "Bound"},
                         {"accessModes", updated["spec"]["accessModes"]},
                         {"capacity", {{"storage", FormatQuantity(capacity)}}}};
    if (!attributes_class.empty()) {
      updated["status"]["currentVolumeAttributesClassName"] = attributes_class;
    }
    return txn.Update(updated);
  }));
  if (orphaned) {
    csi::v1::DeleteVolumeRequest cleanup;
    cleanup.set_volume_id(volume.volume_id());
    RETURN_IF_ERROR(ctx.csi.DeleteVolume(cleanup));
    return true;
  }
  RecordEvent(ctx.store, claim, "Normal", "ProvisioningSucceeded",
              fmt::format("Successfully provisioned volume {}", volume_name),
              ctx.ProvisionerSource(info));
  return true;
}

}  // namespace ditto::control
