#include "control/controllers/snapshots.h"

#include "common/quantity.h"
#include "control/controllers/data_source.h"
#include "control/controllers/group_snapshots.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::ControllerServiceCapability_RPC;

constexpr char kAsSourceFinalizer[] =
    "snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection";

// Marks the snapshot failed (status.error) with a Warning event.
Status FailSnapshot(ControllerContext& ctx, const Json& snapshot, const std::string& reason,
                    const std::string& message) {
  return FailWithStatusError(ctx, snapshot, reason, message, kSnapshotControllerSource);
}

StatusOr<std::optional<Json>> SnapshotClassFor(StoreTxn& txn, const Json& snapshot,
                                               const std::string& driver) {
  std::string name = GetString(snapshot, {"spec", "volumeSnapshotClassName"});
  if (!name.empty()) return txn.Get(kVolumeSnapshotClass, "", name);
  ASSIGN_OR_RETURN(std::vector<Json> classes, txn.List(kVolumeSnapshotClass, ""));
  for (Json& snapshot_class : classes) {
    if (GetAnnotation(snapshot_class, kDefaultSnapshotClassAnnotation) == "true" &&
        GetString(snapshot_class, {"driver"}) == driver) {
      return std::optional<Json>(std::move(snapshot_class));
    }
  }
  return std::optional<Json>();
}

// Kept in one piece: the snapshot-controller's and csi-snapshotter's
// checks, one early return each (their order decides the message), then one
// CreateSnapshot.
StatusOr<bool> TakeSnapshot(ControllerContext& ctx, const Json& snapshot, const DriverInfo& info) {
  std::string claim_name = GetString(snapshot, {"spec", "source", "persistentVolumeClaimName"});
  std::optional<Json> claim, volume, snapshot_class;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(claim, txn.Get(kPersistentVolumeClaim, Namespace(snapshot), claim_name));
    if (claim.has_value() && !GetString(*claim, {"spec", "volumeName"}).empty()) {
      ASSIGN_OR_RETURN(volume,
                       txn.Get(kPersistentVolume, "", GetString(*claim, {"spec", "volumeName"})));
    }
    std::string driver =
        volume.has_value() ? GetString(*volume, {"spec", "csi", "driver"}) : info.name;
    ASSIGN_OR_RETURN(snapshot_class, SnapshotClassFor(txn, snapshot, driver));
    return absl::OkStatus();
  }));
  if (!claim.has_value()) {
    RETURN_IF_ERROR(FailSnapshot(
        ctx, snapshot, "SnapshotCreationFailed",
        fmt::format("failed to get input parameters to create snapshot {}: persistentvolumeclaims "
                    "\"{}\" not found; create the PVC or fix spec.source.persistentVolumeClaimName",
                    Name(snapshot), claim_name)));
    return false;
  }
  if (!volume.has_value() || GetString(*claim, {"status", "phase"}) != "Bound") {
    RETURN_IF_ERROR(FailSnapshot(
        ctx, snapshot, "SnapshotCreationFailed",
        fmt::format("failed to get input parameters to create snapshot {}: the PVC {} is not yet "
                    "bound to a PV, will not attempt to take a snapshot",
                    Name(snapshot), claim_name)));
    return false;
  }
  if (!snapshot_class.has_value()) {
    std::string name = GetString(snapshot, {"spec", "volumeSnapshotClassName"});
    RETURN_IF_ERROR(FailSnapshot(
        ctx, snapshot, "SnapshotCreationFailed",
        name.empty()
            ? fmt::format("cannot find default snapshot class for driver {}; create a "
                          "VolumeSnapshotClass with annotation {}: \"true\" or set "
                          "spec.volumeSnapshotClassName",
                          GetString(*volume, {"spec", "csi", "driver"}),
                          kDefaultSnapshotClassAnnotation)
            : fmt::format("volumesnapshotclass.snapshot.storage.k8s.io \"{}\" not found", name)));
    return false;
  }
  std::string driver = GetString(*snapshot_class, {"driver"});
  if (driver != info.name || GetString(*volume, {"spec", "csi", "driver"}) != driver) {
    RETURN_IF_ERROR(FailSnapshot(
        ctx, snapshot, "SnapshotCreationFailed",
        fmt::format("VolumeSnapshotClass {} uses driver {} but the volume of PVC {} is handled by "
                    "{}; use a snapshot class of that driver",
                    Name(*snapshot_class), driver, claim_name,
                    GetString(*volume, {"spec", "csi", "driver"}))));
    return false;
  }
  if (!info.HasController(ControllerServiceCapability_RPC::CREATE_DELETE_SNAPSHOT)) {
    RETURN_IF_ERROR(
        FailSnapshot(ctx, snapshot, "SnapshotCreationFailed",
                     "CSI driver does not report the CREATE_DELETE_SNAPSHOT capability"));
    return false;
  }
  RecordEvent(
      ctx.store, snapshot, "Normal", "CreatingSnapshot",
      fmt::format("Waiting for a snapshot {} to be created by the CSI driver.", Key(snapshot)),
      kSnapshotControllerSource);
  csi::v1::CreateSnapshotRequest request;
  request.set_name(fmt::format("snapshot-{}", Uid(snapshot)));
  request.set_source_volume_id(GetString(*volume, {"spec", "csi", "volumeHandle"}));
  const Json class_parameters = snapshot_class->value("parameters", Json::object());
  for (const auto& [key, value] : class_parameters.items()) {
    if (key.rfind("csi.storage.k8s.io/", 0) == 0) continue;
    (*request.mutable_parameters())[key] = value.get<std::string>();
  }
  csi::v1::CreateSnapshotResponse response;
  Status created = ctx.CsiFor(request.source_volume_id()).CreateSnapshot(request, &response);
  if (!created.ok()) {
    RETURN_IF_ERROR(
        FailSnapshot(ctx, snapshot, "SnapshotCreationFailed",
                     fmt::format("Failed to create snapshot: {}", std::string(created.message()))));
    return false;
  }
  const csi::v1::Snapshot& taken = response.snapshot();
  int64_t created_ns =
      taken.creation_time().seconds() * 1000000000LL + taken.creation_time().nanos();
  std::string content_name = fmt::format("snapcontent-{}", Uid(snapshot));
  Json content = {
      {"apiVersion", "snapshot.storage.k8s.io/v1"},
      {"kind", kVolumeSnapshotContent},
      {"metadata", {{"name", content_name}, {"finalizers", {kSnapshotContentFinalizer}}}},
      {"spec",
       {{"driver", driver},
        {"deletionPolicy", GetString(*snapshot_class, {"deletionPolicy"}, "Delete")},
        {"source", {{"volumeHandle", request.source_volume_id()}}},
        {"sourceVolumeMode", GetString(*volume, {"spec", "volumeMode"}, "Filesystem")},
        {"volumeSnapshotClassName", Name(*snapshot_class)},
        {"volumeSnapshotRef",
         {{"apiVersion", "snapshot.storage.k8s.io/v1"},
          {"kind", kVolumeSnapshot},
          {"name", Name(snapshot)},
          {"namespace", Namespace(snapshot)},
          {"uid", Uid(snapshot)}}}}},
      {"status",
       {{"snapshotHandle", taken.snapshot_id()},
        {"readyToUse", taken.ready_to_use()},
        {"restoreSize", taken.size_bytes()},
        {"creationTime", created_ns}}}};
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kVolumeSnapshot, Namespace(snapshot), Name(snapshot)));
    if (!current.has_value() || Uid(*current) != Uid(snapshot)) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<Json> existing,
                     txn.Get(kVolumeSnapshotContent, "", content_name));
    if (!existing.has_value()) RETURN_IF_ERROR(txn.Create(content));
    Json& updated = *current;
    AddFinalizer(updated, kAsSourceFinalizer);
    AddFinalizer(updated, kSnapshotBoundFinalizer);
    // As the snapshot controller does: the default class is written down.
    if (GetString(updated, {"spec", "volumeSnapshotClassName"}).empty()) {
      updated["spec"]["volumeSnapshotClassName"] = Name(*snapshot_class);
    }
    updated["status"] = {{"boundVolumeSnapshotContentName", content_name},
                         {"readyToUse", taken.ready_to_use()},
                         {"restoreSize", FormatQuantity(taken.size_bytes())},
                         {"creationTime", FormatTimestamp(created_ns)}};
    return txn.Update(updated);
  }));
  RecordEvent(ctx.store, snapshot, "Normal", "SnapshotCreated",
              fmt::format("Snapshot {} was successfully created by the CSI driver.", Key(snapshot)),
              kSnapshotControllerSource);
  if (taken.ready_to_use()) {
    RecordEvent(ctx.store, snapshot, "Normal", "SnapshotReady",
                fmt::format("Snapshot {} is ready to use.", Key(snapshot)),
                kSnapshotControllerSource);
  }
  return true;
}

// A snapshot naming an existing content (pre-provisioned): bind them.
StatusOr<bool> BindToContent(ControllerContext& ctx, const Json& snapshot) {
  std::string content_name = GetString(snapshot, {"spec", "source", "volumeSnapshotContentName"});
  bool bound = false;
  std::string problem;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> content,
                     txn.Get(kVolumeSnapshotContent, "", content_name));
    if (!content.has_value()) {
      problem = fmt::format("volumesnapshotcontents.snapshot.storage.k8s.io \"{}\" not found",
                            content_name);
      return absl::OkStatus();
    }
    if (GetString(*content, {"spec", "volumeSnapshotRef", "name"}) != Name(snapshot) ||
        GetString(*content, {"spec", "volumeSnapshotRef", "namespace"}) != Namespace(snapshot)) {
      problem = fmt::format(
          "VolumeSnapshotContent {} does not point back to this snapshot; set "
          "its spec.volumeSnapshotRef to {}",
          content_name, Key(snapshot));
      return absl::OkStatus();
    }
    if (GetString(*content, {"status", "snapshotHandle"}).empty()) return absl::OkStatus();
    (*content)["spec"]["volumeSnapshotRef"]["uid"] = Uid(snapshot);
    RETURN_IF_ERROR(txn.Update(*content));
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kVolumeSnapshot, Namespace(snapshot), Name(snapshot)));
    if (!current.has_value()) return absl::OkStatus();
    AddFinalizer(*current, kSnapshotBoundFinalizer);
    int64_t created_ns = QuantityAt(*content, {"status", "creationTime"});
    (*current)["status"] = {
        {"boundVolumeSnapshotContentName", content_name},
        {"readyToUse", GetBool(*content, {"status", "readyToUse"})},
        {"restoreSize", FormatQuantity(QuantityAt(*content, {"status", "restoreSize"}))},
        {"creationTime", FormatTimestamp(created_ns)}};
    bound = true;
    return txn.Update(*current);
  }));
  if (!problem.empty()) {
    RETURN_IF_ERROR(FailSnapshot(ctx, snapshot, "SnapshotBindFailed", problem));
  }
  return bound;
}

StatusOr<bool> DeleteCsiSnapshot(ControllerContext& ctx, const Json& content,
                                 const DriverInfo& info) {
  if (GetString(content, {"spec", "deletionPolicy"}, "Delete") != "Delete") return true;
  std::string handle = GetString(content, {"status", "snapshotHandle"});
  if (handle.empty()) handle = GetString(content, {"spec", "source", "snapshotHandle"});
  if (handle.empty()) return true;
  csi::v1::DeleteSnapshotRequest request;
  request.set_snapshot_id(handle);
  Status deleted = ctx.CsiFor(request.snapshot_id()).DeleteSnapshot(request);
  if (!deleted.ok()) {
    RecordEvent(ctx.store, content, "Warning", "SnapshotDeleteError",
                fmt::format("Failed to delete snapshot: {}", std::string(deleted.message())),
                ctx.SnapshotterSource(info));
    return false;
  }
  return true;
}

StatusOr<bool> FinalizeSnapshot(ControllerContext& ctx, const Json& snapshot,
                                const DriverInfo& info) {
  // volumesnapshot-as-source-protection: no pending restore may need it.
  ASSIGN_OR_RETURN(std::vector<Json> claims, ListObjects(ctx.store, kPersistentVolumeClaim));
  for (const Json& claim : claims) {
    DataSourceRef ref = DataSourceOf(claim);
    if (ref.IsSnapshot() && ref.name == Name(snapshot) &&
        ref.namespace_name == Namespace(snapshot) &&
        GetString(claim, {"status", "phase"}, "Pending") == "Pending" &&
        HasFinalizer(snapshot, kAsSourceFinalizer)) {
      return false;
    }
  }
  std::string content_name = GetString(snapshot, {"status", "boundVolumeSnapshotContentName"});
  bool dynamic = !GetString(snapshot, {"spec", "source", "persistentVolumeClaimName"}).empty();
  if (!content_name.empty()) {
    ASSIGN_OR_RETURN(std::optional<Json> content,
                     GetObject(ctx.store, kVolumeSnapshotContent, "", content_name));
    if (content.has_value() && (dynamic || IsBeingDeleted(*content) ||
                                GetString(*content, {"spec", "deletionPolicy"}) == "Delete")) {
      ASSIGN_OR_RETURN(bool gone, DeleteCsiSnapshot(ctx, *content, info));
      if (!gone) return false;
      bool retain = GetString(*content, {"spec", "deletionPolicy"}) == "Retain";
      RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
        if (!retain) return txn.Remove(kVolumeSnapshotContent, "", content_name);
        // Retain: the content (and the snapshot data) stays, unbound.
        ASSIGN_OR_RETURN(std::optional<Json> current,
                         txn.Get(kVolumeSnapshotContent, "", content_name));
        if (!current.has_value()) return absl::OkStatus();
        RemoveFinalizer(*current, kSnapshotContentFinalizer);
        return txn.Update(*current);
      }));
    }
  }
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    return txn.Remove(kVolumeSnapshot, Namespace(snapshot), Name(snapshot));
  }));
  return true;
}

StatusOr<bool> ReconcileContent(ControllerContext& ctx, const Json& content,
                                const DriverInfo& info) {
  std::string ref_name = GetString(content, {"spec", "volumeSnapshotRef", "name"});
  std::string ref_namespace = GetString(content, {"spec", "volumeSnapshotRef", "namespace"});
  if (IsBeingDeleted(content)) {
    ASSIGN_OR_RETURN(std::optional<Json> snapshot,
                     GetObject(ctx.store, kVolumeSnapshot, ref_namespace, ref_name));
    if (snapshot.has_value() && !IsBeingDeleted(*snapshot) &&
        GetString(*snapshot, {"status", "boundVolumeSnapshotContentName"}) == Name(content)) {
      return false;  // bound-protection
    }
    ASSIGN_OR_RETURN(bool gone, DeleteCsiSnapshot(ctx, content, info));
    if (!gone) return false;
    RETURN_IF_ERROR(ctx.store.Transact(
        [&](StoreTxn& txn) { return txn.Remove(kVolumeSnapshotContent, "", Name(content)); }));
    return true;
  }
  // Pre-provisioned: learn the snapshot's state from the driver.
  std::string handle = GetString(content, {"spec", "source", "snapshotHandle"});
  if (handle.empty() || !GetString(content, {"status", "snapshotHandle"}).empty()) return false;
  csi::v1::ListSnapshotsRequest request;
  request.set_snapshot_id(handle);
  csi::v1::ListSnapshotsResponse response;
  Status listed = ctx.CsiFor(request.snapshot_id()).ListSnapshots(request, &response);
  if (!listed.ok() || response.entries_size() == 0) {
    RecordEvent(ctx.store, content, "Warning", "SnapshotContentCheckandUpdateFailed",
                listed.ok() ? fmt::format("snapshot {} not found by driver {}", handle, info.name)
                            : std::string(listed.message()),
                ctx.SnapshotterSource(info));
    return false;
  }
  const csi::v1::Snapshot& found = response.entries(0).snapshot();
  Json updated = content;
  updated["status"] = {{"snapshotHandle", found.snapshot_id()},
                       {"readyToUse", found.ready_to_use()},
                       {"restoreSize", found.size_bytes()},
                       {"creationTime", found.creation_time().seconds() * 1000000000LL +
                                            found.creation_time().nanos()}};
  RETURN_IF_ERROR(UpdateObject(ctx.store, updated));
  return true;
}

}  // namespace

StatusOr<bool> ReconcileSnapshots(ControllerContext& ctx, const DriverInfo& info) {
  PassOutcome pass;
  ASSIGN_OR_RETURN(std::vector<Json> contents, ListObjects(ctx.store, kVolumeSnapshotContent));
  for (const Json& content : contents)
    RETURN_IF_ERROR(pass.Absorb(ReconcileContent(ctx, content, info)));
  ASSIGN_OR_RETURN(std::vector<Json> snapshots, ListObjects(ctx.store, kVolumeSnapshot));
  for (const Json& snapshot : snapshots) {
    // The members of a VolumeGroupSnapshot are the group controller's.
    if (HasFinalizer(snapshot, kSnapshotInGroupFinalizer)) continue;
    if (IsBeingDeleted(snapshot)) {
      RETURN_IF_ERROR(pass.Absorb(FinalizeSnapshot(ctx, snapshot, info)));
    } else if (GetString(snapshot, {"status", "boundVolumeSnapshotContentName"}).empty()) {
      if (!GetString(snapshot, {"spec", "source", "volumeSnapshotContentName"}).empty()) {
        RETURN_IF_ERROR(pass.Absorb(BindToContent(ctx, snapshot)));
      } else {
        RETURN_IF_ERROR(pass.Absorb(TakeSnapshot(ctx, snapshot, info)));
      }
    }
  }
  return pass.changed();
}

}  // namespace ditto::control
