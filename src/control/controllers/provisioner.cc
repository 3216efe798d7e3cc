#include "control/controllers/provisioner.h"

#include "common/quantity.h"
#include "control/controllers/data_source.h"
#include "control/controllers/placement.h"
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

namespace {

// The steps of ProvisionClaim. Those that can refuse return the refusal's
// message ("" to go on), which ProvisionClaim reports as ProvisioningFailed.

// Whether the driver offers what the claim needs: dynamic provisioning, and
// cloning or restoring for a claim with such a data source.
std::string DriverRefusal(const DriverInfo& info) {
  if (!info.controller_service) {
    return "CSI driver does not support dynamic provisioning: plugin CONTROLLER_SERVICE "
           "capability is not reported";
  }
  if (!info.HasController(ControllerServiceCapability_RPC::CREATE_DELETE_VOLUME)) {
    return "CSI driver does not support dynamic provisioning: controller CREATE_DELETE_VOLUME "
           "capability is not reported";
  }
  return "";
}

std::string SourceRefusal(const DriverInfo& info, const DataSourceRef& ref) {
  if (ref.IsClaim() && !info.HasController(ControllerServiceCapability_RPC::CLONE_VOLUME)) {
    return fmt::format(
        "CSI driver does not support clone operations: controller CLONE_VOLUME capability is "
        "not reported; driver {} cannot clone PVC {}, so remove spec.dataSource or use a "
        "StorageClass whose driver can clone",
        info.name, ref.name);
  }
  if (ref.IsSnapshot() &&
      !info.HasController(ControllerServiceCapability_RPC::CREATE_DELETE_SNAPSHOT)) {
    return "CSI driver does not support snapshot restore: controller CREATE_DELETE_SNAPSHOT "
           "capability is not reported";
  }
  return "";
}

// A VolumeAttributesClass named at creation: its parameters become the
// request's mutable_parameters (external-provisioner's rules).
StatusOr<std::string> ReadAttributesClass(ControllerContext& ctx, const std::string& name,
                                          const DriverInfo& info,
                                          google::protobuf::Map<std::string, std::string>* out) {
  if (name.empty()) return std::string();
  if (!info.HasController(ControllerServiceCapability_RPC::MODIFY_VOLUME)) {
    return fmt::format(
        "VolumeAttributesClass {} is set but the CSI driver does not report the MODIFY_VOLUME "
        "controller capability; remove spec.volumeAttributesClassName",
        name);
  }
  ASSIGN_OR_RETURN(std::optional<Json> vac, GetObject(ctx.store, kVolumeAttributesClass, "", name));
  if (!vac.has_value()) {
    return fmt::format(
        "VolumeAttributesClass \"{}\" not found; create it or name another class in "
        "spec.volumeAttributesClassName",
        name);
  }
  if (GetString(*vac, {"driverName"}) != info.name) {
    return fmt::format("VolumeAttributesClass {} is for driver {}, not {}", name,
                       GetString(*vac, {"driverName"}), info.name);
  }
  const Json vac_parameters = vac->value("parameters", Json::object());
  for (const auto& [key, value] : vac_parameters.items()) (*out)[key] = value.get<std::string>();
  return std::string();
}

// Parameters: the class's, without the reserved csi.storage.k8s.io/ keys;
// `fs_type` from csi.storage.k8s.io/fstype or the driver's own "fsType"
// (ext4 by default, none for a block claim).
std::string ClassParameters(const Json& storage_class, bool block,
                            google::protobuf::Map<std::string, std::string>* parameters,
                            std::string* fs_type) {
  const Json class_parameters = storage_class.value("parameters", Json::object());
  for (const auto& [key, value] : class_parameters.items()) {
    if (key.rfind(kParameterPrefix, 0) == 0) {
      if (!IsKnownPrefixedKey(key)) {
        return fmt::format(
            "failed to strip CSI Parameters of prefixed keys: found unknown parameter key \"{}\" "
            "with reserved namespace {}; remove it from the StorageClass",
            key, kParameterPrefix);
      }
      if (key == kFsTypeKey) *fs_type = value.get<std::string>();
      continue;
    }
    (*parameters)[key] = value.get<std::string>();
  }
  if (fs_type->empty() && parameters->contains("fsType")) *fs_type = parameters->at("fsType");
  if (fs_type->empty() && !block) *fs_type = "ext4";
  if (block) fs_type->clear();
  return "";
}

// What provisioning asks of the driver and makes of its answer.
struct Provisioning {
  std::string volume_name;
  std::string attributes_class;
  std::string fs_type;
  bool block = false;
  std::vector<std::string> mount_flags;
  int64_t requested = 0;
};

csi::v1::CreateVolumeRequest CreateRequest(
    const Json& claim, const Provisioning& plan,
    const google::protobuf::Map<std::string, std::string>& parameters,
    const google::protobuf::Map<std::string, std::string>& mutable_parameters,
    const DataSourceRef& ref, const ResolvedSource& source, const DriverInfo& info) {
  csi::v1::CreateVolumeRequest request;
  request.set_name(plan.volume_name);
  request.mutable_capacity_range()->set_required_bytes(plan.requested);
  for (auto& capability : VolumeCapabilities(claim["spec"], plan.fs_type, plan.mount_flags, info)) {
    *request.add_volume_capabilities() = std::move(capability);
  }
  *request.mutable_parameters() = parameters;
  // As external-provisioner's --extra-create-metadata: who the volume is for.
  (*request.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = Name(claim);
  (*request.mutable_parameters())["csi.storage.k8s.io/pvc/namespace"] = Namespace(claim);
  (*request.mutable_parameters())["csi.storage.k8s.io/pv/name"] = plan.volume_name;
  *request.mutable_mutable_parameters() = mutable_parameters;
  if (!ref.kind.empty()) *request.mutable_volume_content_source() = source.content;
  if (info.accessible_topology.segments_size() > 0) {
    *request.mutable_accessibility_requirements()->add_requisite() = info.accessible_topology;
    *request.mutable_accessibility_requirements()->add_preferred() = info.accessible_topology;
  }
  return request;
}

// What is wrong with the volume the driver made ("" when nothing); a wrong
// one is deleted again.
std::string CreatedVolumeProblem(ControllerContext& ctx, const csi::v1::Volume& volume,
                                 int64_t capacity, const Provisioning& plan, bool has_source) {
  std::string problem;
  if (capacity < plan.requested) {
    problem = fmt::format("created volume capacity {} less than requested capacity {}", capacity,
                          plan.requested);
  } else if (has_source && !volume.has_content_source()) {
    problem = "volume content source missing";
  }
  if (!problem.empty()) {
    csi::v1::DeleteVolumeRequest cleanup;
    cleanup.set_volume_id(volume.volume_id());
    Status deleted = ctx.CsiFor(cleanup.volume_id()).DeleteVolume(cleanup);
    if (!deleted.ok()) {
      problem += fmt::format(". cleanup of volume {} failed, volume is orphaned: {}",
                             plan.volume_name, std::string(deleted.message()));
    }
  }
  return problem;
}

// The PV of the volume, bound to the claim.
Json PersistentVolumeFor(const Json& claim, const Json& storage_class, const DriverInfo& info,
                         const csi::v1::Volume& volume, int64_t capacity,
                         const Provisioning& plan) {
  Json pv = {
      {"apiVersion", "v1"},
      {"kind", kPersistentVolume},
      {"metadata",
       {{"name", plan.volume_name},
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
        {"volumeMode", plan.block ? "Block" : "Filesystem"}}},
      {"status", {{"phase", "Bound"}}}};
  if (!plan.block) pv["spec"]["csi"]["fsType"] = plan.fs_type;
  for (const auto& [key, value] : volume.volume_context()) {
    pv["spec"]["csi"]["volumeAttributes"][key] = value;
  }
  pv["spec"]["csi"]["volumeAttributes"]["storage.kubernetes.io/csiProvisionerIdentity"] = info.name;
  if (!plan.mount_flags.empty()) pv["spec"]["mountOptions"] = plan.mount_flags;
  if (!plan.attributes_class.empty()) {
    pv["spec"]["volumeAttributesClassName"] = plan.attributes_class;
  }
  Json affinity = NodeAffinity(volume.accessible_topology());
  if (!affinity.is_null()) pv["spec"]["nodeAffinity"] = affinity;
  return pv;
}

// Creates the PV and binds the claim to it in one transaction. Returns
// whether the claim went away meanwhile (the volume is then orphaned).
StatusOr<bool> BindClaim(ControllerContext& ctx, const Json& claim, Json pv, int64_t capacity,
                         const Provisioning& plan, const DriverInfo& info) {
  bool orphaned = false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kPersistentVolumeClaim, Namespace(claim), Name(claim)));
    if (!current.has_value() || Uid(*current) != Uid(claim) || IsBeingDeleted(*current)) {
      orphaned = true;  // deleted while we provisioned: the volume goes too
      return absl::OkStatus();
    }
    if (!GetString(*current, {"spec", "volumeName"}).empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<Json> existing,
                     txn.Get(kPersistentVolume, "", plan.volume_name));
    if (!existing.has_value()) {
      pv["spec"]["claimRef"]["resourceVersion"] =
          GetString(*current, {"metadata", "resourceVersion"});
      RETURN_IF_ERROR(txn.Create(pv));
    }
    Json& updated = *current;
    updated["spec"]["volumeName"] = plan.volume_name;
    SetAnnotation(updated, kBindCompletedAnnotation, "yes");
    SetAnnotation(updated, kBoundByControllerAnnotation, "yes");
    SetAnnotation(updated, kStorageProvisionerAnnotation, info.name);
    SetAnnotation(updated, kBetaStorageProvisionerAnnotation, info.name);
    updated["status"] = {{"phase", "Bound"},
                         {"accessModes", updated["spec"]["accessModes"]},
                         {"capacity", {{"storage", FormatQuantity(capacity)}}}};
    if (!plan.attributes_class.empty()) {
      updated["status"]["currentVolumeAttributesClassName"] = plan.attributes_class;
    }
    return txn.Update(updated);
  }));
  return orphaned;
}

}  // namespace

StatusOr<bool> ProvisionClaim(ControllerContext& ctx, const Json& claim, const Json& storage_class,
                              const DriverInfo& info) {
  auto fail = [&](const std::string& why) {
    Failed(ctx, claim, storage_class, info, why);
    return false;
  };
  DataSourceRef ref = DataSourceOf(claim);
  if (std::string why = DriverRefusal(info); !why.empty()) return fail(why);
  if (!ref.kind.empty() && !ref.IsClaim() && !ref.IsSnapshot()) {
    RecordEvent(ctx.store, claim, "Normal", "Provisioning",
                "Assuming an external populator will provision the volume",
                ctx.ProvisionerSource(info));
    return false;
  }
  if (std::string why = SourceRefusal(info, ref); !why.empty()) return fail(why);

  Provisioning plan;
  plan.attributes_class = GetString(claim, {"spec", "volumeAttributesClassName"});
  google::protobuf::Map<std::string, std::string> mutable_parameters;
  ASSIGN_OR_RETURN(std::string vac_refusal,
                   ReadAttributesClass(ctx, plan.attributes_class, info, &mutable_parameters));
  if (!vac_refusal.empty()) return fail(vac_refusal);
  plan.block = GetString(claim, {"spec", "volumeMode"}, "Filesystem") == "Block";
  google::protobuf::Map<std::string, std::string> parameters;
  if (std::string why = ClassParameters(storage_class, plan.block, &parameters, &plan.fs_type);
      !why.empty()) {
    return fail(why);
  }

  ResolvedSource source;
  if (!ref.kind.empty()) {
    Status resolved = ctx.store.Transact([&](StoreTxn& txn) -> Status {
      ASSIGN_OR_RETURN(source, ResolveDataSource(txn, claim, storage_class, info));
      return absl::OkStatus();
    });
    if (absl::IsFailedPrecondition(resolved)) {
      return fail(fmt::format("error getting handle for DataSource Type {} by Name {}: {}",
                              ref.kind, ref.name, std::string(resolved.message())));
    }
    RETURN_IF_ERROR(resolved);
    if (source.is_clone) RETURN_IF_ERROR(ProtectSource(ctx, ref));
  }

  std::string source_id = source.content.has_volume()     ? source.content.volume().volume_id()
                          : source.content.has_snapshot() ? source.content.snapshot().snapshot_id()
                                                          : std::string();
  ASSIGN_OR_RETURN(Placement placement, PlaceVolume(ctx, claim, storage_class, source_id));
  if (placement.node == nullptr) return fail(placement.refusal);
  // The chosen node's own topology goes into the request: the volume must be there.
  ASSIGN_OR_RETURN(DriverInfo node_info, placement.node->Info());

  plan.volume_name = fmt::format("pvc-{}", Uid(claim));
  RecordEvent(
      ctx.store, claim, "Normal", "Provisioning",
      fmt::format("External provisioner is provisioning volume for claim \"{}\"", Key(claim)),
      ctx.ProvisionerSource(info));
  for (const Json& flag : storage_class.value("mountOptions", Json::array())) {
    plan.mount_flags.push_back(flag.get<std::string>());
  }
  plan.requested = RequestedBytes(claim);
  csi::v1::CreateVolumeRequest request =
      CreateRequest(claim, plan, parameters, mutable_parameters, ref, source, node_info);
  csi::v1::CreateVolumeResponse response;
  Status created = CreateVolumeUntilFinal(ctx, *placement.node, claim,
                                          ctx.ProvisionerSource(info), request, &response);
  if (!created.ok()) return fail(std::string(created.message()));
  const csi::v1::Volume& volume = response.volume();
  int64_t capacity = volume.capacity_bytes() == 0 ? plan.requested : volume.capacity_bytes();
  if (std::string problem = CreatedVolumeProblem(ctx, volume, capacity, plan, !ref.kind.empty());
      !problem.empty()) {
    return fail(problem);
  }

  Json pv = PersistentVolumeFor(claim, storage_class, info, volume, capacity, plan);
  ASSIGN_OR_RETURN(bool orphaned, BindClaim(ctx, claim, std::move(pv), capacity, plan, info));
  if (orphaned) {
    csi::v1::DeleteVolumeRequest cleanup;
    cleanup.set_volume_id(volume.volume_id());
    RETURN_IF_ERROR(placement.node->DeleteVolume(cleanup));
    return true;
  }
  RecordEvent(ctx.store, claim, "Normal", "ProvisioningSucceeded",
              fmt::format("Successfully provisioned volume {}", plan.volume_name),
              ctx.ProvisionerSource(info));
  return true;
}

}  // namespace ditto::control
