// Which node a new volume is made on when the control plane drives several
// (dittoctl --endpoint A --endpoint B), and CreateVolume repeated while the
// driver answers that it is still working on it, as external-provisioner
// repeats it.
#pragma once

#include <string>

#include "common/status.h"
#include "control/api/object.h"
#include "control/controllers/context.h"

namespace ditto::control {

struct Placement {
  CsiClient* node = nullptr;  // null: no node fits, see `refusal`
  std::string refusal;
};

// As the provisioner of each node decides in a cluster: the node the claim
// names in volume.kubernetes.io/selected-node (the first consumer's node
// under WaitForFirstConsumer, or set when the claim is made), else the first
// node the class's allowedTopologies admit, else the node holding
// `source_id` (a clone or restore; "" for none), else the default node.
StatusOr<Placement> PlaceVolume(ControllerContext& ctx, const Json& claim,
                                const Json& storage_class, const std::string& source_id);

// CreateVolume on `node`, repeated with the same request while the answer
// is ABORTED or UNAVAILABLE (a copy from another node in progress; its
// message, the progress, becomes a Normal event on `claim` now and then),
// waiting a little longer each time, up to `limit` in all.
Status CreateVolumeUntilFinal(ControllerContext& ctx, CsiClient& node, const Json& claim,
                              const std::string& event_source,
                              const csi::v1::CreateVolumeRequest& request,
                              csi::v1::CreateVolumeResponse* response,
                              std::chrono::seconds limit = std::chrono::minutes(10));

}  // namespace ditto::control
