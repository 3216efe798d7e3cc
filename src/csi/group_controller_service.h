// CSI GroupController (CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT): snapshots of
// several volumes of this node taken together, crash-consistent (every
// mounted member frozen across all the reflinks; see Pool::CreateGroupSnapshot).
// Each member is an ordinary snapshot: CreateVolume restores it alone, and
// GetMetadataDelta compares it with any other snapshot of its volume.
#pragma once

#include "csi.grpc.pb.h"
#include "csi/driver_context.h"

namespace ditto::csi {

class GroupControllerService final : public ::csi::v1::GroupController::Service {
 public:
  explicit GroupControllerService(DriverContext& context) : context_(context) {}

  using Ctx = grpc::ServerContext;
  grpc::Status GroupControllerGetCapabilities(
      Ctx*, const ::csi::v1::GroupControllerGetCapabilitiesRequest* request,
      ::csi::v1::GroupControllerGetCapabilitiesResponse* response) override;
  grpc::Status CreateVolumeGroupSnapshot(
      Ctx*, const ::csi::v1::CreateVolumeGroupSnapshotRequest* request,
      ::csi::v1::CreateVolumeGroupSnapshotResponse* response) override;
  grpc::Status DeleteVolumeGroupSnapshot(
      Ctx*, const ::csi::v1::DeleteVolumeGroupSnapshotRequest* request,
      ::csi::v1::DeleteVolumeGroupSnapshotResponse* response) override;
  grpc::Status GetVolumeGroupSnapshot(
      Ctx*, const ::csi::v1::GetVolumeGroupSnapshotRequest* request,
      ::csi::v1::GetVolumeGroupSnapshotResponse* response) override;

 private:
  Status DoCreate(const ::csi::v1::CreateVolumeGroupSnapshotRequest& request,
                  ::csi::v1::CreateVolumeGroupSnapshotResponse* response);
  Status DoDelete(const ::csi::v1::DeleteVolumeGroupSnapshotRequest& request);
  Status DoGet(const ::csi::v1::GetVolumeGroupSnapshotRequest& request,
               ::csi::v1::GetVolumeGroupSnapshotResponse* response);

  DriverContext& context_;
};

}  // namespace ditto::csi
