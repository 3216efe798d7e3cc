// Dynamic provisioning of one Pending claim through CSI CreateVolume, as
// kubernetes-csi/external-provisioner does it, with the binding the
// persistentvolume-controller would then do (PV created Bound to the claim).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "control/controllers/context.h"
#include "csi.pb.h"

namespace ditto::control {

// CSI access mode for a Kubernetes one ("ReadWriteOnce", ...), as
// csi-lib-utils maps them. INVALID_ARGUMENT-free: unknown -> UNKNOWN.
csi::v1::VolumeCapability::AccessMode::Mode CsiAccessMode(const std::string& mode,
                                                          const DriverInfo& info);

// One capability per access mode of `spec` (a claim's or a volume's spec):
// block, or mount with `fs_type` and `mount_flags`.
std::vector<csi::v1::VolumeCapability> VolumeCapabilities(
    const Json& spec, const std::string& fs_type, const std::vector<std::string>& mount_flags,
    const DriverInfo& info);

// Provisions `claim` (Pending, unbound, its class's provisioner is this
// driver) with `storage_class`. Rule violations and driver errors leave the
// claim Pending with a Warning event; returns whether any object changed.
StatusOr<bool> ProvisionClaim(ControllerContext& ctx, const Json& claim, const Json& storage_class,
                              const DriverInfo& info);

}  // namespace ditto::control
