// The modification side of external-resizer: a bound claim whose
// spec.volumeAttributesClassName differs from its
// status.currentVolumeAttributesClassName gets ControllerModifyVolume with the
// class's parameters; status.modifyVolumeStatus says what is pending.
#pragma once

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

// Returns whether anything changed.
StatusOr<bool> ModifyClaim(ControllerContext& ctx, const Json& claim, const Json& volume,
                           const DriverInfo& info);

}  // namespace ditto::control
