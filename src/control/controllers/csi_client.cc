#include "control/controllers/csi_client.h"

#include "fmt/format.h"

namespace ditto::control {

const char* GrpcCodeName(int code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code < 0 || code > 16) return "Unknown";
  return kNames[code];
}

CsiClient::CsiClient(std::shared_ptr<grpc::Channel> channel, std::chrono::seconds timeout)
    : channel_(std::move(channel)),
      timeout_(timeout),
      identity_(csi::v1::Identity::NewStub(channel_)),
      controller_(csi::v1::Controller::NewStub(channel_)),
      node_(csi::v1::Node::NewStub(channel_)),
      group_controller_(csi::v1::GroupController::NewStub(channel_)) {}

StatusOr<std::unique_ptr<CsiClient>> CsiClient::Connect(const std::string& endpoint,
                                                        std::chrono::seconds connect_timeout) {
  if (endpoint.rfind("unix://", 0) != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "--endpoint \"{}\" is not a unix socket address; use unix:///path/to/csi.sock", endpoint));
  }
  grpc::ChannelArguments arguments;
  // CSI drivers are local: keep messages at the default and disable proxies.
  arguments.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  auto channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), arguments);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + connect_timeout)) {
    return absl::UnavailableError(fmt::format(
        "cannot reach a CSI driver at {} within {}s; start dittod with --endpoint {} or drop "
        "--endpoint to run the driver in-process",
        endpoint, connect_timeout.count(), endpoint));
  }
  return std::make_unique<CsiClient>(channel);
}

template <typename Stub, typename Request, typename Response>
Status CsiClient::Call(const char* method, Stub* stub,
                       grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                       const Request& request, Response* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  context.set_wait_for_ready(true);
  grpc::Status status = (stub->*rpc)(&context, request, response);
  if (status.ok()) return absl::OkStatus();
  return Status(static_cast<absl::StatusCode>(status.error_code()),
                fmt::format("{}: rpc error: code = {} desc = {}", method,
                            GrpcCodeName(status.error_code()), status.error_message()));
}

StatusOr<DriverInfo> CsiClient::Info() {
  if (info_) return *info_;
  auto info = std::make_unique<DriverInfo>();
  {
    csi::v1::GetPluginInfoResponse response;
    RETURN_IF_ERROR(Call("GetPluginInfo", identity_.get(), &csi::v1::Identity::Stub::GetPluginInfo,
                         csi::v1::GetPluginInfoRequest(), &response));
    info->name = response.name();
    info->vendor_version = response.vendor_version();
  }
  {
    csi::v1::GetPluginCapabilitiesResponse response;
    RETURN_IF_ERROR(Call("GetPluginCapabilities", identity_.get(),
                         &csi::v1::Identity::Stub::GetPluginCapabilities,
                         csi::v1::GetPluginCapabilitiesRequest(), &response));
    for (const auto& capability : response.capabilities()) {
      if (capability.has_service() &&
          capability.service().type() == csi::v1::PluginCapability::Service::CONTROLLER_SERVICE) {
        info->controller_service = true;
      }
    }
  }
  if (info->controller_service) {
    csi::v1::ControllerGetCapabilitiesResponse response;
    RETURN_IF_ERROR(Call("ControllerGetCapabilities", controller_.get(),
                         &csi::v1::Controller::Stub::ControllerGetCapabilities,
                         csi::v1::ControllerGetCapabilitiesRequest(), &response));
    for (const auto& capability : response.capabilities()) {
      if (capability.has_rpc()) info->controller_capabilities.insert(capability.rpc().type());
    }
  }
  {
    csi::v1::NodeGetCapabilitiesResponse response;
    RETURN_IF_ERROR(Call("NodeGetCapabilities", node_.get(),
                         &csi::v1::Node::Stub::NodeGetCapabilities,
                         csi::v1::NodeGetCapabilitiesRequest(), &response));
    for (const auto& capability : response.capabilities()) {
      if (capability.has_rpc()) info->node_capabilities.insert(capability.rpc().type());
    }
  }
  {
    // The GroupController service is optional: a driver without it answers
    // UNIMPLEMENTED and offers no group snapshots.
    csi::v1::GroupControllerGetCapabilitiesResponse response;
    Status status = Call("GroupControllerGetCapabilities", group_controller_.get(),
                         &csi::v1::GroupController::Stub::GroupControllerGetCapabilities,
                         csi::v1::GroupControllerGetCapabilitiesRequest(), &response);
    if (!status.ok() && !absl::IsUnimplemented(status)) return status;
    for (const auto& capability : response.capabilities()) {
      if (capability.has_rpc()) info->group_controller_capabilities.insert(capability.rpc().type());
    }
  }
  {
    csi::v1::NodeGetInfoResponse response;
    RETURN_IF_ERROR(Call("NodeGetInfo", node_.get(), &csi::v1::Node::Stub::NodeGetInfo,
                         csi::v1::NodeGetInfoRequest(), &response));
    info->node_id = response.node_id();
    info->accessible_topology = response.accessible_topology();
  }
  info_ = std::move(info);
  return *info_;
}

Status CsiClient::CreateVolume(const csi::v1::CreateVolumeRequest& request,
                               csi::v1::CreateVolumeResponse* response) {
  return Call("CreateVolume", controller_.get(), &csi::v1::Controller::Stub::CreateVolume, request,
              response);
}

Status CsiClient::DeleteVolume(const csi::v1::DeleteVolumeRequest& request) {
  csi::v1::DeleteVolumeResponse response;
  return Call("DeleteVolume", controller_.get(), &csi::v1::Controller::Stub::DeleteVolume, request,
              &response);
}

Status CsiClient::ControllerExpandVolume(const csi::v1::ControllerExpandVolumeRequest& request,
                                         csi::v1::ControllerExpandVolumeResponse* response) {
  return Call("ControllerExpandVolume", controller_.get(),
              &csi::v1::Controller::Stub::ControllerExpandVolume, request, response);
}

Status CsiClient::ControllerModifyVolume(const csi::v1::ControllerModifyVolumeRequest& request) {
  csi::v1::ControllerModifyVolumeResponse response;
  return Call("ControllerModifyVolume", controller_.get(),
              &csi::v1::Controller::Stub::ControllerModifyVolume, request, &response);
}

Status CsiClient::CreateSnapshot(const csi::v1::CreateSnapshotRequest& request,
                                 csi::v1::CreateSnapshotResponse* response) {
  return Call("CreateSnapshot", controller_.get(), &csi::v1::Controller::Stub::CreateSnapshot,
              request, response);
}

Status CsiClient::DeleteSnapshot(const csi::v1::DeleteSnapshotRequest& request) {
  csi::v1::DeleteSnapshotResponse response;
  return Call("DeleteSnapshot", controller_.get(), &csi::v1::Controller::Stub::DeleteSnapshot,
              request, &response);
}

Status CsiClient::ListSnapshots(const csi::v1::ListSnapshotsRequest& request,
                                csi::v1::ListSnapshotsResponse* response) {
  return Call("ListSnapshots", controller_.get(), &csi::v1::Controller::Stub::ListSnapshots,
              request, response);
}

Status CsiClient::CreateVolumeGroupSnapshot(
    const csi::v1::CreateVolumeGroupSnapshotRequest& request,
    csi::v1::CreateVolumeGroupSnapshotResponse* response) {
  return Call("CreateVolumeGroupSnapshot", group_controller_.get(),
              &csi::v1::GroupController::Stub::CreateVolumeGroupSnapshot, request, response);
}

Status CsiClient::GetVolumeGroupSnapshot(const csi::v1::GetVolumeGroupSnapshotRequest& request,
                                         csi::v1::GetVolumeGroupSnapshotResponse* response) {
  return Call("GetVolumeGroupSnapshot", group_controller_.get(),
              &csi::v1::GroupController::Stub::GetVolumeGroupSnapshot, request, response);
}

Status CsiClient::DeleteVolumeGroupSnapshot(
    const csi::v1::DeleteVolumeGroupSnapshotRequest& request) {
  csi::v1::DeleteVolumeGroupSnapshotResponse response;
  return Call("DeleteVolumeGroupSnapshot", group_controller_.get(),
              &csi::v1::GroupController::Stub::DeleteVolumeGroupSnapshot, request, &response);
}

Status CsiClient::NodeStageVolume(const csi::v1::NodeStageVolumeRequest& request) {
  csi::v1::NodeStageVolumeResponse response;
  return Call("NodeStageVolume", node_.get(), &csi::v1::Node::Stub::NodeStageVolume, request,
              &response);
}

Status CsiClient::NodeUnstageVolume(const csi::v1::NodeUnstageVolumeRequest& request) {
  csi::v1::NodeUnstageVolumeResponse response;
  return Call("NodeUnstageVolume", node_.get(), &csi::v1::Node::Stub::NodeUnstageVolume, request,
              &response);
}

Status CsiClient::NodePublishVolume(const csi::v1::NodePublishVolumeRequest& request) {
  csi::v1::NodePublishVolumeResponse response;
  return Call("NodePublishVolume", node_.get(), &csi::v1::Node::Stub::NodePublishVolume, request,
              &response);
}

Status CsiClient::NodeUnpublishVolume(const csi::v1::NodeUnpublishVolumeRequest& request) {
  csi::v1::NodeUnpublishVolumeResponse response;
  return Call("NodeUnpublishVolume", node_.get(), &csi::v1::Node::Stub::NodeUnpublishVolume,
              request, &response);
}

Status CsiClient::NodeExpandVolume(const csi::v1::NodeExpandVolumeRequest& request,
                                   csi::v1::NodeExpandVolumeResponse* response) {
  return Call("NodeExpandVolume", node_.get(), &csi::v1::Node::Stub::NodeExpandVolume, request,
              response);
}

}  // namespace ditto::control
