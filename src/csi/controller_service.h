// CSI Controller: volumes (empty, cloned from a volume, restored from a
// snapshot), snapshots, capacity and expansion, on top of pool::Pool. No
// attach step: ControllerPublish/Unpublish are not offered.
//
// Every RPC validates its request (validation.h) before touching the pool, and
// maps "does not exist" to NOT_FOUND even for IDs that are malformed (they
// cannot exist), so a CSI test client sees the spec's codes.
#pragma once

#include "catalog/records.h"
#include "csi.grpc.pb.h"
#include "csi/create_volume_plan.h"
#include "csi/driver_context.h"

namespace ditto::csi {

class ControllerService final : public ::csi::v1::Controller::Service {
 public:
  explicit ControllerService(DriverContext& context) : context_(context) {}

  using Ctx = grpc::ServerContext;
  grpc::Status CreateVolume(Ctx*, const ::csi::v1::CreateVolumeRequest* request,
                            ::csi::v1::CreateVolumeResponse* response) override;
  grpc::Status DeleteVolume(Ctx*, const ::csi::v1::DeleteVolumeRequest* request,
                            ::csi::v1::DeleteVolumeResponse* response) override;
  grpc::Status ControllerPublishVolume(
      Ctx*, const ::csi::v1::ControllerPublishVolumeRequest* request,
      ::csi::v1::ControllerPublishVolumeResponse* response) override;
  grpc::Status ControllerUnpublishVolume(
      Ctx*, const ::csi::v1::ControllerUnpublishVolumeRequest* request,
      ::csi::v1::ControllerUnpublishVolumeResponse* response) override;
  grpc::Status ValidateVolumeCapabilities(
      Ctx*, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
      ::csi::v1::ValidateVolumeCapabilitiesResponse* response) override;
  grpc::Status ListVolumes(Ctx*, const ::csi::v1::ListVolumesRequest* request,
                           ::csi::v1::ListVolumesResponse* response) override;
  grpc::Status GetCapacity(Ctx*, const ::csi::v1::GetCapacityRequest* request,
                           ::csi::v1::GetCapacityResponse* response) override;
  grpc::Status ControllerGetCapabilities(
      Ctx*, const ::csi::v1::ControllerGetCapabilitiesRequest* request,
      ::csi::v1::ControllerGetCapabilitiesResponse* response) override;
  grpc::Status CreateSnapshot(Ctx*, const ::csi::v1::CreateSnapshotRequest* request,
                              ::csi::v1::CreateSnapshotResponse* response) override;
  grpc::Status DeleteSnapshot(Ctx*, const ::csi::v1::DeleteSnapshotRequest* request,
                              ::csi::v1::DeleteSnapshotResponse* response) override;
  grpc::Status ListSnapshots(Ctx*, const ::csi::v1::ListSnapshotsRequest* request,
                             ::csi::v1::ListSnapshotsResponse* response) override;
  grpc::Status GetSnapshot(Ctx*, const ::csi::v1::GetSnapshotRequest* request,
                           ::csi::v1::GetSnapshotResponse* response) override;
  grpc::Status ControllerExpandVolume(Ctx*, const ::csi::v1::ControllerExpandVolumeRequest* request,
                                      ::csi::v1::ControllerExpandVolumeResponse* response) override;
  grpc::Status ControllerGetVolume(Ctx*, const ::csi::v1::ControllerGetVolumeRequest* request,
                                   ::csi::v1::ControllerGetVolumeResponse* response) override;
  grpc::Status ControllerModifyVolume(Ctx*, const ::csi::v1::ControllerModifyVolumeRequest* request,
                                      ::csi::v1::ControllerModifyVolumeResponse* response) override;

 private:
  Status DoCreateVolume(const ::csi::v1::CreateVolumeRequest& request,
                        ::csi::v1::CreateVolumeResponse* response);
  // CreateVolume of a volume whose source another node holds (controller_peer_volumes.cc):
  // copied from there, across retries.
  Status DoCreateVolumeFromPeer(const ::csi::v1::CreateVolumeRequest& request,
                                const peer::PeerAddress& holder, CreateVolumePlan& plan,
                                ::csi::v1::CreateVolumeResponse* response);
  // A repeated CreateVolume: true (response filled) when a ready volume of
  // that name answers it, AlreadyExists when that volume does not match.
  StatusOr<bool> AnswerExistingVolume(const CreateVolumePlan& plan,
                                      ::csi::v1::CreateVolumeResponse* response);
  Status DoDeleteVolume(const ::csi::v1::DeleteVolumeRequest& request);
  Status DoValidateVolumeCapabilities(const ::csi::v1::ValidateVolumeCapabilitiesRequest& request,
                                      ::csi::v1::ValidateVolumeCapabilitiesResponse* response);
  Status DoListVolumes(const ::csi::v1::ListVolumesRequest& request,
                       ::csi::v1::ListVolumesResponse* response);
  Status DoGetCapacity(const ::csi::v1::GetCapacityRequest& request,
                       ::csi::v1::GetCapacityResponse* response);
  Status DoCreateSnapshot(const ::csi::v1::CreateSnapshotRequest& request,
                          ::csi::v1::CreateSnapshotResponse* response);
  Status DoDeleteSnapshot(const ::csi::v1::DeleteSnapshotRequest& request);
  Status DoListSnapshots(const ::csi::v1::ListSnapshotsRequest& request,
                         ::csi::v1::ListSnapshotsResponse* response);
  Status DoGetSnapshot(const ::csi::v1::GetSnapshotRequest& request,
                       ::csi::v1::GetSnapshotResponse* response);
  Status DoControllerExpandVolume(const ::csi::v1::ControllerExpandVolumeRequest& request,
                                  ::csi::v1::ControllerExpandVolumeResponse* response);
  Status DoControllerModifyVolume(const ::csi::v1::ControllerModifyVolumeRequest& request);
  Status DoControllerGetVolume(const ::csi::v1::ControllerGetVolumeRequest& request,
                               ::csi::v1::ControllerGetVolumeResponse* response);

  // Looks up a volume by an ID from a request: InvalidArgument when empty,
  // NotFound when malformed or absent.
  StatusOr<catalog::VolumeRecord> FindVolume(const std::string& id, std::string_view field);
  // What the pool records of a CreateVolume plan's content source (NotFound
  // when it does not exist).
  StatusOr<SourceFacts> LookUpSource(const CreateVolumePlan& plan);
  void FillVolume(const catalog::VolumeRecord& record, ::csi::v1::Volume* volume) const;
  // The controller's view of a volume: its image present, sized and readable.
  ::csi::v1::VolumeCondition Condition(const catalog::VolumeRecord& record);

  DriverContext& context_;
};

}  // namespace ditto::csi
