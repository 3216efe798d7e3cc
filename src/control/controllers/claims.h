// The claim side of the persistentvolume-controller, the pvc-protection and
// cloning-protection controllers and the external-resizer: for every PVC,
// choose its class, provision it (provisioner.h), expand it, and let it go
// once nothing protects it any more.
#pragma once

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

// One pass over all claims; returns whether any object changed.
StatusOr<bool> ReconcileClaims(ControllerContext& ctx, const DriverInfo& info);

// Why a claim being deleted is still here ("" when nothing holds it):
// "mounted at /mnt/x" or "PVC ns/clone is Pending with it as data source".
StatusOr<std::string> ClaimHeldBy(StoreTxn& txn, const Json& claim);

}  // namespace ditto::control
