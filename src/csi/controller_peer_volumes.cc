// CreateVolume of a volume whose content source another node holds (its ID
// carries that node's tag): the data is copied from there by peer::Transfers
// while the caller retries. The first call starts the copy, later ones are
// answered ABORTED or UNAVAILABLE with its progress, and the call that finds
// it complete returns the volume, on this node.
#include "csi/controller_service.h"
#include "csi/create_volume_plan.h"
#include "fmt/format.h"

namespace ditto::csi {

Status ControllerService::DoCreateVolumeFromPeer(const pb::CreateVolumeRequest& request,
                                                 const peer::PeerAddress& holder,
                                                 CreateVolumePlan& plan,
                                                 pb::CreateVolumeResponse* response) {
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"name:" + plan.name}));
  ASSIGN_OR_RETURN(peer::RemoteImage image,
                   context_.transfers->Describe(holder, plan.source_id));
  SourceFacts source;
  source.bytes = image.size_bytes;
  source.mode = image.mode_hint;
  source.fs_type = image.fs_type;
  RETURN_IF_ERROR(CompleteCreateVolumePlan(request, source, context_.options.node_id, plan));

  // A repeated request for a volume already copied: as for any volume.
  ASSIGN_OR_RETURN(bool answered, AnswerExistingVolume(plan, response));
  if (answered) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto volume, context_.transfers->CopyVolume(plan.Spec(), holder));
  FillVolume(volume, response->mutable_volume());
  return absl::OkStatus();
}

}  // namespace ditto::csi
