// `dittoctl mount|unmount|attach|detach`: the kubelet's part. A claim is
// staged once per node (NodeStageVolume at STATE/staging/<pv>) and published
// at each target (NodePublishVolume); every publish is recorded in the store
// so pvc-protection sees the claim in use and unmount finds it again.
#pragma once

#include <string>

#include "common/status.h"
#include "control/controllers/context.h"

namespace ditto::control {

struct PublishRequest {
  std::string namespace_name;
  std::string claim_name;
  std::string target_path;  // absolute; for block, "" = STATE/devices/<pv>
  bool read_only = false;
  bool block = false;  // attach (Block claims) instead of mount (Filesystem claims)
  // The node the consumer runs on (a pod's nodeName); "" = the default node,
  // or for a bound claim, the node its volume is on.
  std::string node;
};

// Publishes the claim (provisioning it first, on the consumer's node, when its
// class waits for the first consumer) and returns the target path. The node
// stages and publishes through the driver of the node its volume is on.
// FailedPrecondition when the claim cannot be used (Pending, being deleted,
// wrong volume mode, its volume on another node than `node`), saying why.
StatusOr<std::string> PublishClaim(ControllerContext& ctx, const PublishRequest& request);

// Unpublishes what `target_path` holds, and unstages the volume when no other
// target uses it. NotFound when dittoctl published nothing there.
Status UnpublishTarget(ControllerContext& ctx, const std::string& target_path);

// The target of the claim's block publish (for `detach pvc/NAME`).
StatusOr<std::string> AttachedTarget(ControllerContext& ctx, const std::string& ns,
                                     const std::string& claim_name);

}  // namespace ditto::control
