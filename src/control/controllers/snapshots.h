// The snapshot-controller and csi-snapshotter: VolumeSnapshots taken from a
// bound PVC through CSI CreateSnapshot (with their VolumeSnapshotContents),
// pre-provisioned contents bound to snapshots, and deletion by policy.
#pragma once

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

// One pass over snapshots and contents; returns whether any object changed.
StatusOr<bool> ReconcileSnapshots(ControllerContext& ctx, const DriverInfo& info);

}  // namespace ditto::control
