// Volume group snapshots (groupsnapshot.storage.k8s.io/v1beta2), as the
// snapshot-controller and csi-snapshotter handle them: a VolumeGroupSnapshot
// selects the bound PVCs of its namespace by label, one CSI
// CreateVolumeGroupSnapshot snapshots them together, and the result is a
// VolumeGroupSnapshotContent plus, per member, a VolumeSnapshot and a
// pre-bound VolumeSnapshotContent that restore like any other snapshot.
// Pre-provisioned contents (spec.source.groupSnapshotHandles) are bound and
// read back with GetVolumeGroupSnapshot; deletion follows deletionPolicy.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "control/controllers/context.h"
#include "control/apiserver/store.h"

namespace ditto::control {

// One pass over group snapshots and their contents; returns whether any
// object changed.
StatusOr<bool> ReconcileGroupSnapshots(ControllerContext& ctx, const DriverInfo& info);

// The parts of the controller that delete (group_snapshot_deletion.cc):
// a VolumeGroupSnapshot being deleted, a VolumeGroupSnapshotContent being
// deleted, and a member VolumeSnapshot marked for deletion on its own.
// Each returns whether it changed anything.
StatusOr<bool> FinalizeGroupSnapshot(ControllerContext& ctx, const Json& group,
                                     const DriverInfo& info);
StatusOr<bool> DeleteGroupContent(ControllerContext& ctx, const Json& content,
                                  const DriverInfo& info);
StatusOr<bool> HoldGroupMember(ControllerContext& ctx, const Json& snapshot);

// Why `object` (a VolumeSnapshot or VolumeSnapshotContent) may not be
// deleted on its own because it is a member of a live VolumeGroupSnapshot;
// "" when it may.
StatusOr<std::string> GroupMemberDeleteRefusal(StoreTxn& txn, const Json& object);

}  // namespace ditto::control
