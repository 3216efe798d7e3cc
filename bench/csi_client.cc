#include "bench/csi_client.h"

#include <chrono>

#include "bench/bench_util.h"
#include "fmt/format.h"

namespace ditto::bench {
namespace {

// Generous: a 16 GiB full-copy baseline never goes through CSI, but a clone
// of a badly fragmented image may take seconds.
constexpr auto kDeadline = std::chrono::minutes(10);

void Prepare(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
}

void CheckRpc(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) {
    Die(fmt::format("{} failed: code {}: {}", what, static_cast<int>(status.error_code()),
                    status.error_message()));
  }
}

void SetMountCapability(csi::v1::VolumeCapability* capability, const std::string& fs_type) {
  auto* mount = capability->mutable_mount();
  if (!fs_type.empty()) mount->set_fs_type(fs_type);
  capability->mutable_access_mode()->set_mode(
      csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
}

}  // namespace

CsiClient::CsiClient(std::shared_ptr<grpc::Channel> channel)
    : controller_(csi::v1::Controller::NewStub(channel)), node_(csi::v1::Node::NewStub(channel)) {}

std::string CsiClient::CreateVolume(const std::string& name, uint64_t capacity, Source source,
                                    const std::string& source_id, const std::string& fs_type) {
  csi::v1::CreateVolumeRequest request;
  request.set_name(name);
  if (capacity != 0) request.mutable_capacity_range()->set_required_bytes(static_cast<int64_t>(capacity));
  SetMountCapability(request.add_volume_capabilities(), fs_type);
  if (source == Source::kVolume) {
    request.mutable_volume_content_source()->mutable_volume()->set_volume_id(source_id);
  } else if (source == Source::kSnapshot) {
    request.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(source_id);
  }
  csi::v1::CreateVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->CreateVolume(&context, request, &response), "CreateVolume " + name);
  return response.volume().volume_id();
}

void CsiClient::DeleteVolume(const std::string& volume_id) {
  csi::v1::DeleteVolumeRequest request;
  request.set_volume_id(volume_id);
  csi::v1::DeleteVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->DeleteVolume(&context, request, &response), "DeleteVolume " + volume_id);
}

void CsiClient::ControllerGetCapabilities() {
  csi::v1::ControllerGetCapabilitiesRequest request;
  csi::v1::ControllerGetCapabilitiesResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->ControllerGetCapabilities(&context, request, &response),
           "ControllerGetCapabilities");
}

int CsiClient::ListVolumes(int max_entries, const std::string& starting_token,
                           std::string* next_token) {
  csi::v1::ListVolumesRequest request;
  request.set_max_entries(max_entries);
  request.set_starting_token(starting_token);
  csi::v1::ListVolumesResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->ListVolumes(&context, request, &response), "ListVolumes");
  *next_token = response.next_token();
  return response.entries_size();
}

std::string CsiClient::CreateSnapshot(const std::string& name, const std::string& source_volume_id) {
  csi::v1::CreateSnapshotRequest request;
  request.set_name(name);
  request.set_source_volume_id(source_volume_id);
  csi::v1::CreateSnapshotResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->CreateSnapshot(&context, request, &response), "CreateSnapshot " + name);
  return response.snapshot().snapshot_id();
}

void CsiClient::DeleteSnapshot(const std::string& snapshot_id) {
  csi::v1::DeleteSnapshotRequest request;
  request.set_snapshot_id(snapshot_id);
  csi::v1::DeleteSnapshotResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(controller_->DeleteSnapshot(&context, request, &response),
           "DeleteSnapshot " + snapshot_id);
}

void CsiClient::NodeStage(const std::string& volume_id, const std::string& staging_path,
                          const std::string& fs_type) {
  csi::v1::NodeStageVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging_path);
  SetMountCapability(request.mutable_volume_capability(), fs_type);
  csi::v1::NodeStageVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(node_->NodeStageVolume(&context, request, &response), "NodeStageVolume " + volume_id);
}

void CsiClient::NodePublish(const std::string& volume_id, const std::string& staging_path,
                            const std::string& target_path, const std::string& fs_type) {
  csi::v1::NodePublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging_path);
  request.set_target_path(target_path);
  SetMountCapability(request.mutable_volume_capability(), fs_type);
  csi::v1::NodePublishVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(node_->NodePublishVolume(&context, request, &response), "NodePublishVolume " + volume_id);
}

void CsiClient::NodeUnpublish(const std::string& volume_id, const std::string& target_path) {
  csi::v1::NodeUnpublishVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_target_path(target_path);
  csi::v1::NodeUnpublishVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(node_->NodeUnpublishVolume(&context, request, &response),
           "NodeUnpublishVolume " + volume_id);
}

void CsiClient::NodeUnstage(const std::string& volume_id, const std::string& staging_path) {
  csi::v1::NodeUnstageVolumeRequest request;
  request.set_volume_id(volume_id);
  request.set_staging_target_path(staging_path);
  csi::v1::NodeUnstageVolumeResponse response;
  grpc::ClientContext context;
  Prepare(context);
  CheckRpc(node_->NodeUnstageVolume(&context, request, &response), "NodeUnstageVolume " + volume_id);
}

}  // namespace ditto::bench
