// The volume side of the persistentvolume-controller and the
// external-provisioner's deleter: PV phases (Bound, Released), reclaim
// (Delete through CSI DeleteVolume, or Retain) and pv-protection.
#pragma once

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

// One pass over all PVs; returns whether any object changed.
StatusOr<bool> ReconcileVolumes(ControllerContext& ctx, const DriverInfo& info);

}  // namespace ditto::control
