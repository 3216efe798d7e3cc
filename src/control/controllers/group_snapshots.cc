#include "control/controllers/group_snapshots.h"

#include <openssl/sha.h>

#include <map>

#include "common/quantity.h"
#include "control/api/kinds.h"
#include "control/api/label_selector.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

using csi::v1::GroupControllerServiceCapability_RPC;

Status FailGroup(ControllerContext& ctx, const Json& group, const std::string& reason,
                 const std::string& message) {
  return FailWithStatusError(ctx, group, reason, message, kSnapshotControllerSource);
}

int64_t Nanos(const google::protobuf::Timestamp& time) {
  return time.seconds() * 1000000000LL + time.nanos();
}

// "snapshot-<sha256 hex>" / "snapcontent-<sha256 hex>" of the group's UID
// and the member's volume handle, as the snapshot-controller names members:
// the same on every retry.
std::string MemberName(const char* prefix, const Json& group, const std::string& volume_handle) {
  std::string text = Uid(group) + volume_handle;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string name = std::string(prefix) + "-";
  for (unsigned char byte : digest) name += fmt::format("{:02x}", byte);
  return name;
}

// status of a VolumeGroupSnapshotContent from the driver's answer.
// v1beta2 lists the members in volumeSnapshotInfoList (v1beta1 called it
// volumeSnapshotHandlePairList and had only the two handles).
Json ContentStatus(const csi::v1::VolumeGroupSnapshot& group) {
  Json members = Json::array();
  for (const csi::v1::Snapshot& snapshot : group.snapshots()) {
    members.push_back({{"volumeHandle", snapshot.source_volume_id()},
                       {"snapshotHandle", snapshot.snapshot_id()},
                       {"creationTime", Nanos(snapshot.creation_time())},
                       {"readyToUse", snapshot.ready_to_use()},
                       {"restoreSize", snapshot.size_bytes()}});
  }
  return {{"volumeGroupSnapshotHandle", group.group_snapshot_id()},
          {"creationTime", FormatTimestamp(Nanos(group.creation_time()))},
          {"readyToUse", group.ready_to_use()},
          {"volumeSnapshotInfoList", members}};
}

// Creates the member VolumeSnapshots and their pre-bound
// VolumeSnapshotContents of `group` from `content`'s member list (those not
// there yet) and writes the group's status, all in `txn`.
// Kept in one piece: one transaction creating each member's
// VolumeSnapshot and VolumeSnapshotContent, then binding the group.
Status BindMembers(StoreTxn& txn, Json group, const Json& content) {
  std::map<std::string, std::string> volume_modes;  // volume handle -> volumeMode
  ASSIGN_OR_RETURN(std::vector<Json> volumes, txn.List(kPersistentVolume, ""));
  for (const Json& volume : volumes) {
    volume_modes[GetString(volume, {"spec", "csi", "volumeHandle"})] =
        GetString(volume, {"spec", "volumeMode"}, "Filesystem");
  }
  std::string group_handle = GetString(content, {"status", "volumeGroupSnapshotHandle"});
  for (const Json& member : content["status"].value("volumeSnapshotInfoList", Json::array())) {
    std::string volume_handle = GetString(member, {"volumeHandle"});
    std::string snapshot_name = MemberName("snapshot", group, volume_handle);
    std::string content_name = MemberName("snapcontent", group, volume_handle);
    ASSIGN_OR_RETURN(std::optional<Json> existing,
                     txn.Get(kVolumeSnapshot, Namespace(group), snapshot_name));
    if (existing.has_value()) continue;
    int64_t created_ns = member.value("creationTime", int64_t{0});
    int64_t size = member.value("restoreSize", int64_t{0});
    bool ready = member.value("readyToUse", false);
    // The member names its content (spec.source.volumeSnapshotContentName),
    // as a pre-provisioned snapshot does, and is bound from the start.
    Json snapshot = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
                     {"kind", kVolumeSnapshot},
                     {"metadata",
                      {{"name", snapshot_name},
                       {"namespace", Namespace(group)},
                       {"labels", {{kGroupSnapshotNameLabel, Name(group)}}},
                       {"ownerReferences",
                        {{{"apiVersion", kGroupSnapshotApiVersion},
                          {"kind", kVolumeGroupSnapshot},
                          {"name", Name(group)},
                          {"uid", Uid(group)},
                          {"controller", true}}}},
                       {"finalizers", {kSnapshotInGroupFinalizer, kSnapshotBoundFinalizer}}}},
                     {"spec", {{"source", {{"volumeSnapshotContentName", content_name}}}}},
                     {"status",
                      {{"boundVolumeSnapshotContentName", content_name},
                       {"readyToUse", ready},
                       {"restoreSize", FormatQuantity(size)},
                       {"creationTime", FormatTimestamp(created_ns)},
                       {"volumeGroupSnapshotName", Name(group)}}}};
    RETURN_IF_ERROR(txn.Create(snapshot));
    auto mode = volume_modes.find(volume_handle);
    Json member_content = {
        {"apiVersion", "snapshot.storage.k8s.io/v1"},
        {"kind", kVolumeSnapshotContent},
        {"metadata",
         {{"name", content_name},
          {"annotations", {{kGroupSnapshotHandleAnnotation, group_handle}}},
          {"finalizers", {kSnapshotContentFinalizer}}}},
        {"spec",
         {{"driver", GetString(content, {"spec", "driver"})},
          {"deletionPolicy", GetString(content, {"spec", "deletionPolicy"}, "Delete")},
          {"source", {{"snapshotHandle", GetString(member, {"snapshotHandle"})}}},
          {"sourceVolumeMode", mode == volume_modes.end() ? "Filesystem" : mode->second},
          {"volumeSnapshotRef",
           {{"apiVersion", "snapshot.storage.k8s.io/v1"},
            {"kind", kVolumeSnapshot},
            {"name", snapshot_name},
            {"namespace", Namespace(group)},
            {"uid", Uid(snapshot)}}}}},
        {"status",
         {{"snapshotHandle", GetString(member, {"snapshotHandle"})},
          {"volumeGroupSnapshotHandle", group_handle},
          {"readyToUse", ready},
          {"restoreSize", size},
          {"creationTime", created_ns}}}};
    ASSIGN_OR_RETURN(std::optional<Json> stale, txn.Get(kVolumeSnapshotContent, "", content_name));
    if (stale.has_value()) RETURN_IF_ERROR(txn.Remove(kVolumeSnapshotContent, "", content_name));
    RETURN_IF_ERROR(txn.Create(member_content));
  }
  AddFinalizer(group, kGroupSnapshotBoundFinalizer);
  if (GetString(group, {"spec", "volumeGroupSnapshotClassName"}).empty() &&
      !GetString(content, {"spec", "volumeGroupSnapshotClassName"}).empty()) {
    group["spec"]["volumeGroupSnapshotClassName"] =
        GetString(content, {"spec", "volumeGroupSnapshotClassName"});
  }
  group["status"] = {{"boundVolumeGroupSnapshotContentName", Name(content)},
                     {"creationTime", GetString(content, {"status", "creationTime"})},
                     {"readyToUse", GetBool(content, {"status", "readyToUse"})}};
  return txn.Update(group);
}

// What TakeGroupSnapshot reads in one transaction.
struct GroupSources {
  std::vector<Json> claims;
  std::vector<Json> volumes;  // of the claims, in order
  std::optional<Json> group_class;
  std::string problem;  // why the group cannot be taken, for status.error
};

// Kept in one piece: the snapshot-controller's checks of a group's
// members and class, one early return each; their order decides the message.
StatusOr<GroupSources> ReadSources(StoreTxn& txn, const Json& group, const DriverInfo& info) {
  GroupSources sources;
  const Json* selector_json = Find(group, {"spec", "source", "selector"});
  auto selector = LabelSelector::FromJson(selector_json ? *selector_json : Json::object(),
                                          "spec.source.selector");
  if (!selector.ok()) {
    sources.problem = std::string(selector.status().message());
    return sources;
  }
  ASSIGN_OR_RETURN(std::vector<Json> claims, txn.List(kPersistentVolumeClaim, Namespace(group)));
  for (Json& claim : claims) {
    if (selector->MatchesObject(claim) && !IsBeingDeleted(claim)) {
      sources.claims.push_back(std::move(claim));
    }
  }
  if (sources.claims.empty()) {
    sources.problem = fmt::format(
        "label selector {} of group snapshot {} matches no PersistentVolumeClaim in namespace "
        "{}; label the claims to snapshot together or fix spec.source.selector",
        selector_json ? selector_json->dump() : "{}", Name(group), Namespace(group));
    return sources;
  }
  for (const Json& claim : sources.claims) {
    std::string volume_name = GetString(claim, {"spec", "volumeName"});
    std::optional<Json> volume;
    if (!volume_name.empty()) {
      ASSIGN_OR_RETURN(volume, txn.Get(kPersistentVolume, "", volume_name));
    }
    if (!volume.has_value() || GetString(claim, {"status", "phase"}) != "Bound") {
      sources.problem = fmt::format(
          "the PVC {} is not yet bound to a PV, will not attempt to take a group snapshot; wait "
          "until it is Bound or remove its label",
          Name(claim));
      return sources;
    }
    sources.volumes.push_back(std::move(*volume));
  }
  std::string driver = GetString(sources.volumes.front(), {"spec", "csi", "driver"});
  for (size_t i = 0; i < sources.volumes.size(); ++i) {
    std::string other = GetString(sources.volumes[i], {"spec", "csi", "driver"});
    if (other != driver) {
      sources.problem = fmt::format(
          "the PVCs {} and {} are handled by different CSI drivers ({} and {}); a group "
          "snapshot takes volumes of one driver",
          Name(sources.claims.front()), Name(sources.claims[i]), driver, other);
      return sources;
    }
  }
  std::string class_name = GetString(group, {"spec", "volumeGroupSnapshotClassName"});
  if (!class_name.empty()) {
    ASSIGN_OR_RETURN(sources.group_class, txn.Get(kVolumeGroupSnapshotClass, "", class_name));
    if (!sources.group_class.has_value()) {
      sources.problem = fmt::format(
          "volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io \"{}\" not found; create it "
          "or fix spec.volumeGroupSnapshotClassName",
          class_name);
      return sources;
    }
  } else {
    ASSIGN_OR_RETURN(std::vector<Json> classes, txn.List(kVolumeGroupSnapshotClass, ""));
    int defaults = 0;
    for (Json& group_class : classes) {
      if (GetAnnotation(group_class, kDefaultGroupSnapshotClassAnnotation) == "true" &&
          GetString(group_class, {"driver"}) == driver) {
        ++defaults;
        sources.group_class = std::move(group_class);
      }
    }
    if (defaults != 1) {
      sources.problem =
          defaults == 0 ? fmt::format(
                              "cannot find default group snapshot class for driver {}; create a "
                              "VolumeGroupSnapshotClass with annotation {}: \"true\" or set "
                              "spec.volumeGroupSnapshotClassName",
                              driver, kDefaultGroupSnapshotClassAnnotation)
                        : fmt::format(
                              "{} default group snapshot classes were found for driver {}; keep "
                              "the annotation {} on one of them or set "
                              "spec.volumeGroupSnapshotClassName",
                              defaults, driver, kDefaultGroupSnapshotClassAnnotation);
      return sources;
    }
  }
  std::string class_driver = GetString(*sources.group_class, {"driver"});
  if (class_driver != driver || class_driver != info.name) {
    sources.problem = fmt::format(
        "VolumeGroupSnapshotClass {} uses driver {} but the volumes of the selected PVCs are "
        "handled by {}; use a group snapshot class of that driver",
        Name(*sources.group_class), class_driver, driver);
    return sources;
  }
  if (!info.HasGroupController(
          GroupControllerServiceCapability_RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT)) {
    sources.problem = fmt::format(
        "CSI driver {} does not report the CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT capability",
        info.name);
  }
  return sources;
}

// Kept in one piece: one CreateVolumeGroupSnapshot: request, call,
// then the objects it makes, in order.
StatusOr<bool> TakeGroupSnapshot(ControllerContext& ctx, const Json& group,
                                 const DriverInfo& info) {
  GroupSources sources;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(sources, ReadSources(txn, group, info));
    return absl::OkStatus();
  }));
  if (!sources.problem.empty()) {
    RETURN_IF_ERROR(FailGroup(ctx, group, "GroupSnapshotCreationFailed", sources.problem));
    return false;
  }
  const Json& group_class = *sources.group_class;
  RecordEvent(
      ctx.store, group, "Normal", "CreatingGroupSnapshot",
      fmt::format("Waiting for group snapshot {} to be created by the CSI driver.", Key(group)),
      kSnapshotControllerSource);
  csi::v1::CreateVolumeGroupSnapshotRequest request;
  request.set_name(fmt::format("groupsnapshot-{}", Uid(group)));
  Json handles = Json::array();
  for (const Json& volume : sources.volumes) {
    std::string handle = GetString(volume, {"spec", "csi", "volumeHandle"});
    request.add_source_volume_ids(handle);
    handles.push_back(handle);
  }
  const Json parameters = group_class.value("parameters", Json::object());
  for (const auto& [key, value] : parameters.items()) {
    if (key.rfind("csi.storage.k8s.io/", 0) == 0) continue;
    (*request.mutable_parameters())[key] = value.get<std::string>();
  }
  csi::v1::CreateVolumeGroupSnapshotResponse response;
  Status created = ctx.CsiFor(request.source_volume_ids_size() > 0 ? request.source_volume_ids(0) : std::string())
                         .CreateVolumeGroupSnapshot(request, &response);
  if (!created.ok()) {
    RETURN_IF_ERROR(FailGroup(
        ctx, group, "GroupSnapshotCreationFailed",
        fmt::format("Failed to create group snapshot: {}", std::string(created.message()))));
    return false;
  }
  std::string content_name = fmt::format("groupsnapcontent-{}", Uid(group));
  Json content = {
      {"apiVersion", kGroupSnapshotApiVersion},
      {"kind", kVolumeGroupSnapshotContent},
      {"metadata", {{"name", content_name}, {"finalizers", {kGroupSnapshotContentFinalizer}}}},
      {"spec",
       {{"driver", info.name},
        {"deletionPolicy", GetString(group_class, {"deletionPolicy"}, "Delete")},
        {"source", {{"volumeHandles", handles}}},
        {"volumeGroupSnapshotClassName", Name(group_class)},
        {"volumeGroupSnapshotRef",
         {{"apiVersion", kGroupSnapshotApiVersion},
          {"kind", kVolumeGroupSnapshot},
          {"name", Name(group)},
          {"namespace", Namespace(group)},
          {"uid", Uid(group)}}}}},
      {"status", ContentStatus(response.group_snapshot())}};
  bool bound = false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kVolumeGroupSnapshot, Namespace(group), Name(group)));
    if (!current.has_value() || Uid(*current) != Uid(group)) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::optional<Json> existing,
                     txn.Get(kVolumeGroupSnapshotContent, "", content_name));
    if (existing.has_value()) {
      content = *existing;
    } else {
      RETURN_IF_ERROR(txn.Create(content));
    }
    (*current)["spec"]["volumeGroupSnapshotClassName"] = Name(group_class);
    bound = true;
    return BindMembers(txn, *current, content);
  }));
  if (!bound) return true;
  RecordEvent(
      ctx.store, group, "Normal", "GroupSnapshotCreated",
      fmt::format("Group snapshot {} was successfully created by the CSI driver.", Key(group)),
      kSnapshotControllerSource);
  if (response.group_snapshot().ready_to_use()) {
    RecordEvent(ctx.store, group, "Normal", "GroupSnapshotReady",
                fmt::format("Group snapshot {} is ready to use.", Key(group)),
                kSnapshotControllerSource);
  }
  return true;
}

// A group snapshot naming an existing content (pre-provisioned): bind them
// once the content knows its members.
StatusOr<bool> BindToGroupContent(ControllerContext& ctx, const Json& group) {
  std::string content_name = GetString(group, {"spec", "source", "volumeGroupSnapshotContentName"});
  bool bound = false;
  std::string problem;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    ASSIGN_OR_RETURN(std::optional<Json> content,
                     txn.Get(kVolumeGroupSnapshotContent, "", content_name));
    if (!content.has_value()) {
      problem = fmt::format(
          "volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io \"{}\" not found; create it "
          "or fix spec.source.volumeGroupSnapshotContentName",
          content_name);
      return absl::OkStatus();
    }
    const Json ref = (*content)["spec"].value("volumeGroupSnapshotRef", Json::object());
    std::string ref_uid = GetString(ref, {"uid"});
    if (GetString(ref, {"name"}) != Name(group) ||
        GetString(ref, {"namespace"}) != Namespace(group) ||
        (!ref_uid.empty() && ref_uid != Uid(group))) {
      problem = fmt::format(
          "VolumeGroupSnapshotContent {} is bound to a different group snapshot; set its "
          "spec.volumeGroupSnapshotRef to {}",
          content_name, Key(group));
      return absl::OkStatus();
    }
    if (GetString(*content, {"status", "volumeGroupSnapshotHandle"}).empty()) {
      return absl::OkStatus();  // the content is read back from the driver first
    }
    (*content)["spec"]["volumeGroupSnapshotRef"]["uid"] = Uid(group);
    RETURN_IF_ERROR(txn.Update(*content));
    ASSIGN_OR_RETURN(std::optional<Json> current,
                     txn.Get(kVolumeGroupSnapshot, Namespace(group), Name(group)));
    if (!current.has_value()) return absl::OkStatus();
    bound = true;
    return BindMembers(txn, *current, *content);
  }));
  if (!problem.empty()) {
    RETURN_IF_ERROR(FailGroup(ctx, group, "GroupSnapshotContentMisbound", problem));
  }
  return bound;
}

StatusOr<bool> ReconcileGroupContent(ControllerContext& ctx, const Json& content,
                                     const DriverInfo& info) {
  if (IsBeingDeleted(content)) return DeleteGroupContent(ctx, content, info);
  // Pre-provisioned: learn the group's members and state from the driver.
  const Json* given = Find(content, {"spec", "source", "groupSnapshotHandles"});
  if (given == nullptr || !GetString(content, {"status", "volumeGroupSnapshotHandle"}).empty()) {
    return false;
  }
  csi::v1::GetVolumeGroupSnapshotRequest request;
  request.set_group_snapshot_id(GetString(*given, {"volumeGroupSnapshotHandle"}));
  for (const Json& id : given->value("volumeSnapshotHandles", Json::array())) {
    if (id.is_string()) request.add_snapshot_ids(id.get<std::string>());
  }
  csi::v1::GetVolumeGroupSnapshotResponse response;
  Status found = ctx.CsiFor(request.snapshot_ids_size() > 0 ? request.snapshot_ids(0) : std::string())
                       .GetVolumeGroupSnapshot(request, &response);
  if (!found.ok()) {
    RETURN_IF_ERROR(
        FailWithStatusError(ctx, content, "GroupSnapshotContentCheckandUpdateFailed",
                            fmt::format("Failed to check and update group snapshot content: {}",
                                        std::string(found.message())),
                            ctx.SnapshotterSource(info)));
    return false;
  }
  Json updated = content;
  updated["status"] = ContentStatus(response.group_snapshot());
  RETURN_IF_ERROR(UpdateObject(ctx.store, updated));
  return true;
}

}  // namespace

StatusOr<bool> ReconcileGroupSnapshots(ControllerContext& ctx, const DriverInfo& info) {
  PassOutcome pass;
  ASSIGN_OR_RETURN(std::vector<Json> contents, ListObjects(ctx.store, kVolumeGroupSnapshotContent));
  for (const Json& content : contents) {
    RETURN_IF_ERROR(pass.Absorb(ReconcileGroupContent(ctx, content, info)));
  }
  ASSIGN_OR_RETURN(std::vector<Json> groups, ListObjects(ctx.store, kVolumeGroupSnapshot));
  for (const Json& group : groups) {
    if (IsBeingDeleted(group)) {
      RETURN_IF_ERROR(pass.Absorb(FinalizeGroupSnapshot(ctx, group, info)));
    } else if (GetString(group, {"status", "boundVolumeGroupSnapshotContentName"}).empty()) {
      if (!GetString(group, {"spec", "source", "volumeGroupSnapshotContentName"}).empty()) {
        RETURN_IF_ERROR(pass.Absorb(BindToGroupContent(ctx, group)));
      } else {
        RETURN_IF_ERROR(pass.Absorb(TakeGroupSnapshot(ctx, group, info)));
      }
    }
  }
  ASSIGN_OR_RETURN(std::vector<Json> snapshots, ListObjects(ctx.store, kVolumeSnapshot));
  for (const Json& snapshot : snapshots) {
    if (IsBeingDeleted(snapshot) && HasFinalizer(snapshot, kSnapshotInGroupFinalizer)) {
      RETURN_IF_ERROR(pass.Absorb(HoldGroupMember(ctx, snapshot)));
    }
  }
  return pass.changed();
}

}  // namespace ditto::control
