// Deletion of volume group snapshots: a VolumeGroupSnapshot, by its
// content's deletionPolicy; a VolumeGroupSnapshotContent on its own; and a
// member VolumeSnapshot someone marked for deletion while its group lives.
#include "control/controllers/group_snapshots.h"
#include "control/api/kinds.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

std::vector<std::string> MemberSnapshotHandles(const Json& content) {
  std::vector<std::string> handles;
  const Json* members = Find(content, {"status", "volumeSnapshotInfoList"});
  if (members == nullptr || !members->is_array()) return handles;
  for (const Json& member : *members) handles.push_back(GetString(member, {"snapshotHandle"}));
  return handles;
}
// DeleteVolumeGroupSnapshot of a content with policy Delete (true when the
// group is gone from the driver, or is kept by Retain).
bool DeleteCsiGroup(ControllerContext& ctx, const Json& content, const DriverInfo& info) {
  if (GetString(content, {"spec", "deletionPolicy"}, "Delete") != "Delete") return true;
  std::string handle = GetString(content, {"status", "volumeGroupSnapshotHandle"});
  if (handle.empty()) {
    handle =
        GetString(content, {"spec", "source", "groupSnapshotHandles", "volumeGroupSnapshotHandle"});
  }
  if (handle.empty()) return true;
  csi::v1::DeleteVolumeGroupSnapshotRequest request;
  request.set_group_snapshot_id(handle);
  for (const std::string& id : MemberSnapshotHandles(content)) request.add_snapshot_ids(id);
  Status deleted = ctx.CsiFor(request.snapshot_ids_size() > 0 ? request.snapshot_ids(0) : std::string())
                       .DeleteVolumeGroupSnapshot(request);
  if (!deleted.ok()) {
    RecordEvent(ctx.store, content, "Warning", "GroupSnapshotDeleteError",
                fmt::format("Failed to delete group snapshot: {}", std::string(deleted.message())),
                ctx.SnapshotterSource(info));
    return false;
  }
  return true;
}

// Removes the member VolumeSnapshotContents of `content` (policy Delete:
// the driver deleted their snapshots with the group) or releases them
// (Retain: they stay, with their snapshots), in `txn`.
Status DropMemberContents(StoreTxn& txn, const Json& content) {
  std::string handle = GetString(content, {"status", "volumeGroupSnapshotHandle"});
  if (handle.empty()) return absl::OkStatus();
  bool retain = GetString(content, {"spec", "deletionPolicy"}) == "Retain";
  ASSIGN_OR_RETURN(std::vector<Json> members, txn.List(kVolumeSnapshotContent, ""));
  for (Json& member : members) {
    if (GetAnnotation(member, kGroupSnapshotHandleAnnotation) != handle) continue;
    if (!retain) {
      RETURN_IF_ERROR(txn.Remove(kVolumeSnapshotContent, "", Name(member)));
    } else if (RemoveFinalizer(member, kSnapshotContentFinalizer)) {
      RETURN_IF_ERROR(txn.Update(member));
    }
  }
  return absl::OkStatus();
}

// Removes the member VolumeSnapshots of `group`, in `txn`.
Status DropMemberSnapshots(StoreTxn& txn, const Json& group) {
  ASSIGN_OR_RETURN(std::vector<Json> snapshots, txn.List(kVolumeSnapshot, Namespace(group)));
  for (const Json& snapshot : snapshots) {
    const Json* owners = Find(snapshot, {"metadata", "ownerReferences"});
    if (owners == nullptr || !owners->is_array()) continue;
    for (const Json& owner : *owners) {
      if (GetString(owner, {"kind"}) == kVolumeGroupSnapshot &&
          GetString(owner, {"uid"}) == Uid(group)) {
        RETURN_IF_ERROR(txn.Remove(kVolumeSnapshot, Namespace(group), Name(snapshot)));
        break;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

// A VolumeGroupSnapshotContent being deleted: held while its group is bound
// to it; then, with policy Delete, the group goes from the node and the
// member contents with it.
StatusOr<bool> DeleteGroupContent(ControllerContext& ctx, const Json& content,
                                  const DriverInfo& info) {
  std::string ref_name = GetString(content, {"spec", "volumeGroupSnapshotRef", "name"});
  std::string ref_namespace = GetString(content, {"spec", "volumeGroupSnapshotRef", "namespace"});
  ASSIGN_OR_RETURN(std::optional<Json> group,
                   GetObject(ctx.store, kVolumeGroupSnapshot, ref_namespace, ref_name));
  if (group.has_value() && !IsBeingDeleted(*group) &&
      GetString(*group, {"status", "boundVolumeGroupSnapshotContentName"}) == Name(content)) {
    return false;  // bound-protection: delete the VolumeGroupSnapshot instead
  }
  if (!DeleteCsiGroup(ctx, content, info)) return false;
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    RETURN_IF_ERROR(DropMemberContents(txn, content));
    return txn.Remove(kVolumeGroupSnapshotContent, "", Name(content));
  }));
  return true;
}

// Deletion of a VolumeGroupSnapshot: its members go; its content (and the
// group on the node) go too with policy Delete, or stay unbound with Retain.
StatusOr<bool> FinalizeGroupSnapshot(ControllerContext& ctx, const Json& group,
                                     const DriverInfo& info) {
  std::string content_name = GetString(group, {"status", "boundVolumeGroupSnapshotContentName"});
  std::optional<Json> content;
  if (!content_name.empty()) {
    ASSIGN_OR_RETURN(content, GetObject(ctx.store, kVolumeGroupSnapshotContent, "", content_name));
  }
  if (content.has_value() && !DeleteCsiGroup(ctx, *content, info)) {
    RecordEvent(ctx.store, group, "Warning", "GroupSnapshotDeletePending",
                fmt::format("group snapshot content {} could not be deleted yet; see its events "
                            "(dittoctl describe vgsc {})",
                            content_name, content_name),
                kSnapshotControllerSource);
    return false;
  }
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) -> Status {
    RETURN_IF_ERROR(DropMemberSnapshots(txn, group));
    if (content.has_value()) {
      RETURN_IF_ERROR(DropMemberContents(txn, *content));
      if (GetString(*content, {"spec", "deletionPolicy"}) == "Retain") {
        ASSIGN_OR_RETURN(std::optional<Json> current,
                         txn.Get(kVolumeGroupSnapshotContent, "", content_name));
        if (current.has_value() && RemoveFinalizer(*current, kGroupSnapshotContentFinalizer)) {
          RETURN_IF_ERROR(txn.Update(*current));
        }
      } else {
        RETURN_IF_ERROR(txn.Remove(kVolumeGroupSnapshotContent, "", content_name));
      }
    }
    return txn.Remove(kVolumeGroupSnapshot, Namespace(group), Name(group));
  }));
  return true;
}

// A member VolumeSnapshot marked for deletion on its own: it stays while its
// group does (as the snapshot-controller refuses it), and goes once the
// group is gone.
StatusOr<bool> HoldGroupMember(ControllerContext& ctx, const Json& snapshot) {
  std::string group_name = GetString(snapshot, {"metadata", "labels", kGroupSnapshotNameLabel});
  ASSIGN_OR_RETURN(std::optional<Json> group,
                   GetObject(ctx.store, kVolumeGroupSnapshot, Namespace(snapshot), group_name));
  if (group.has_value()) {
    if (!IsBeingDeleted(*group)) {
      RecordEvent(ctx.store, snapshot, "Warning", "SnapshotDeletePending",
                  fmt::format("deletion of the individual volume snapshot {} is not allowed as it "
                              "belongs to group snapshot {}; delete the group snapshot to delete "
                              "all its members",
                              Key(snapshot), Key(*group)),
                  kSnapshotControllerSource);
    }
    return false;
  }
  RETURN_IF_ERROR(ctx.store.Transact([&](StoreTxn& txn) {
    return txn.Remove(kVolumeSnapshot, Namespace(snapshot), Name(snapshot));
  }));
  return true;
}

StatusOr<std::string> GroupMemberDeleteRefusal(StoreTxn& txn, const Json& object) {
  std::optional<Json> snapshot;
  if (Kind(object) == kVolumeSnapshot) {
    snapshot = object;
  } else if (Kind(object) == kVolumeSnapshotContent &&
             !GetAnnotation(object, kGroupSnapshotHandleAnnotation).empty()) {
    ASSIGN_OR_RETURN(
        snapshot,
        txn.Get(kVolumeSnapshot, GetString(object, {"spec", "volumeSnapshotRef", "namespace"}),
                GetString(object, {"spec", "volumeSnapshotRef", "name"})));
  }
  if (!snapshot.has_value() || !HasFinalizer(*snapshot, kSnapshotInGroupFinalizer)) return "";
  std::string group_name = GetString(*snapshot, {"metadata", "labels", kGroupSnapshotNameLabel});
  ASSIGN_OR_RETURN(std::optional<Json> group,
                   txn.Get(kVolumeGroupSnapshot, Namespace(*snapshot), group_name));
  if (!group.has_value() || IsBeingDeleted(*group)) return "";
  return fmt::format(
      "deletion of the individual volume snapshot {} is not allowed as it belongs to group "
      "snapshot {}; delete the group snapshot (dittoctl delete volumegroupsnapshot {} -n {}) to "
      "delete all its members",
      Key(*snapshot), Key(*group), Name(*group), Namespace(*group));
}

}  // namespace ditto::control
