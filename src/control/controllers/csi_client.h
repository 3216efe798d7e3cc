// The control plane's only way to the driver: CSI v1 over a gRPC channel
// (a unix socket to dittod, or the in-process channel of an embedded
// driver). Each call has a deadline; a failed RPC becomes a Status with the
// same code and a message naming the RPC ("rpc error: code = X desc = ...",
// the way Kubernetes components show them).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "csi.grpc.pb.h"

namespace ditto::control {

// What the driver told us about itself (Identity, ControllerGetCapabilities,
// NodeGetCapabilities, NodeGetInfo), fetched once per client.
struct DriverInfo {
  std::string name;
  std::string vendor_version;
  bool controller_service = false;
  std::set<int> controller_capabilities;  // csi::v1::ControllerServiceCapability_RPC_Type
  std::set<int> node_capabilities;        // csi::v1::NodeServiceCapability_RPC_Type
  // csi::v1::GroupControllerServiceCapability_RPC_Type; empty when the
  // driver has no GroupController service.
  std::set<int> group_controller_capabilities;
  std::string node_id;
  csi::v1::Topology accessible_topology;

  bool HasController(csi::v1::ControllerServiceCapability_RPC_Type type) const {
    return controller_capabilities.count(type) > 0;
  }
  bool HasNode(csi::v1::NodeServiceCapability_RPC_Type type) const {
    return node_capabilities.count(type) > 0;
  }
  bool HasGroupController(csi::v1::GroupControllerServiceCapability_RPC_Type type) const {
    return group_controller_capabilities.count(type) > 0;
  }
};

// A whole GetMetadataAllocated / GetMetadataDelta stream, collected.
struct BlockMetadata {
  int64_t volume_capacity_bytes = 0;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // (byte_offset, size_bytes), ascending
};

class CsiClient {
 public:
  explicit CsiClient(std::shared_ptr<grpc::Channel> channel,
                     std::chrono::seconds timeout = std::chrono::seconds(300));

  // Connects to "unix:///path/csi.sock" (or any gRPC target) and waits up to
  // `connect_timeout` for it. Unavailable, saying what to check, if no
  // driver answers there.
  static StatusOr<std::unique_ptr<CsiClient>> Connect(
      const std::string& endpoint, std::chrono::seconds connect_timeout = std::chrono::seconds(10));

  // Driver identity and capabilities (cached after the first success).
  StatusOr<DriverInfo> Info();

  Status CreateVolume(const csi::v1::CreateVolumeRequest& request,
                      csi::v1::CreateVolumeResponse* response);
  Status DeleteVolume(const csi::v1::DeleteVolumeRequest& request);
  Status ControllerExpandVolume(const csi::v1::ControllerExpandVolumeRequest& request,
                                csi::v1::ControllerExpandVolumeResponse* response);
  Status ControllerModifyVolume(const csi::v1::ControllerModifyVolumeRequest& request);
  Status CreateSnapshot(const csi::v1::CreateSnapshotRequest& request,
                        csi::v1::CreateSnapshotResponse* response);
  Status DeleteSnapshot(const csi::v1::DeleteSnapshotRequest& request);
  Status ListSnapshots(const csi::v1::ListSnapshotsRequest& request,
                       csi::v1::ListSnapshotsResponse* response);
  Status CreateVolumeGroupSnapshot(const csi::v1::CreateVolumeGroupSnapshotRequest& request,
                                   csi::v1::CreateVolumeGroupSnapshotResponse* response);
  Status GetVolumeGroupSnapshot(const csi::v1::GetVolumeGroupSnapshotRequest& request,
                                csi::v1::GetVolumeGroupSnapshotResponse* response);
  Status DeleteVolumeGroupSnapshot(const csi::v1::DeleteVolumeGroupSnapshotRequest& request);
  Status NodeStageVolume(const csi::v1::NodeStageVolumeRequest& request);
  Status NodeUnstageVolume(const csi::v1::NodeUnstageVolumeRequest& request);
  Status NodePublishVolume(const csi::v1::NodePublishVolumeRequest& request);
  Status NodeUnpublishVolume(const csi::v1::NodeUnpublishVolumeRequest& request);
  Status NodeExpandVolume(const csi::v1::NodeExpandVolumeRequest& request,
                          csi::v1::NodeExpandVolumeResponse* response);
  // SnapshotMetadata (csi_client_metadata.cc): reads the whole stream.
  StatusOr<BlockMetadata> GetMetadataAllocated(const std::string& snapshot_id);
  StatusOr<BlockMetadata> GetMetadataDelta(const std::string& base_snapshot_id,
                                           const std::string& target_snapshot_id);

 private:
  template <typename Stub, typename Request, typename Response>
  Status Call(const char* method, Stub* stub,
              grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
              const Request& request, Response* response);

  std::shared_ptr<grpc::Channel> channel_;
  std::chrono::seconds timeout_;
  std::unique_ptr<csi::v1::Identity::Stub> identity_;
  std::unique_ptr<csi::v1::Controller::Stub> controller_;
  std::unique_ptr<csi::v1::Node::Stub> node_;
  std::unique_ptr<csi::v1::GroupController::Stub> group_controller_;
  std::unique_ptr<DriverInfo> info_;
};

// "rpc error: code = NotFound desc = ..." style text of a gRPC status code.
const char* GrpcCodeName(int code);

}  // namespace ditto::control
