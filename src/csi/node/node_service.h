// CSI Node: stages a volume (its image on a loop device; mount volumes
// formatted when empty, grown when the volume is larger than the filesystem,
// mounted at the staging path), publishes it (bind mount; block: the device
// bound onto a file), reports usage and condition, and expands it.
//
// Stage and publish records go to the pool's catalog, so a restarted dittod
// recognises what it staged, and the pool knows which volumes' filesystems to
// freeze around a clone or snapshot. External tools (blkid, mkfs.*, resize2fs,
// xfs_growfs, mount) run through Host::Run; their stderr is in any error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/records.h"
#include "csi.grpc.pb.h"
#include "csi/driver_context.h"
#include "csi/validation.h"

namespace ditto::csi {

class NodeService final : public ::csi::v1::Node::Service {
 public:
  explicit NodeService(DriverContext& context) : context_(context) {}

  // After a restart: points every stage record at the loop device that now
  // backs its image (found by backing file), so records stay accurate.
  Status Reconcile();

  using Ctx = grpc::ServerContext;
  grpc::Status NodeStageVolume(Ctx*, const ::csi::v1::NodeStageVolumeRequest* request,
                               ::csi::v1::NodeStageVolumeResponse* response) override;
  grpc::Status NodeUnstageVolume(Ctx*, const ::csi::v1::NodeUnstageVolumeRequest* request,
                                 ::csi::v1::NodeUnstageVolumeResponse* response) override;
  grpc::Status NodePublishVolume(Ctx*, const ::csi::v1::NodePublishVolumeRequest* request,
                                 ::csi::v1::NodePublishVolumeResponse* response) override;
  grpc::Status NodeUnpublishVolume(Ctx*, const ::csi::v1::NodeUnpublishVolumeRequest* request,
                                   ::csi::v1::NodeUnpublishVolumeResponse* response) override;
  grpc::Status NodeGetVolumeStats(Ctx*, const ::csi::v1::NodeGetVolumeStatsRequest* request,
                                  ::csi::v1::NodeGetVolumeStatsResponse* response) override;
  grpc::Status NodeExpandVolume(Ctx*, const ::csi::v1::NodeExpandVolumeRequest* request,
                                ::csi::v1::NodeExpandVolumeResponse* response) override;
  grpc::Status NodeGetCapabilities(Ctx*, const ::csi::v1::NodeGetCapabilitiesRequest* request,
                                   ::csi::v1::NodeGetCapabilitiesResponse* response) override;
  grpc::Status NodeGetInfo(Ctx*, const ::csi::v1::NodeGetInfoRequest* request,
                           ::csi::v1::NodeGetInfoResponse* response) override;

 private:
  Status DoStage(const ::csi::v1::NodeStageVolumeRequest& request);
  Status DoUnstage(const ::csi::v1::NodeUnstageVolumeRequest& request);
  Status DoPublish(const ::csi::v1::NodePublishVolumeRequest& request);
  Status DoUnpublish(const ::csi::v1::NodeUnpublishVolumeRequest& request);
  Status DoGetVolumeStats(const ::csi::v1::NodeGetVolumeStatsRequest& request,
                          ::csi::v1::NodeGetVolumeStatsResponse* response);
  Status DoExpand(const ::csi::v1::NodeExpandVolumeRequest& request,
                  ::csi::v1::NodeExpandVolumeResponse* response);

  // InvalidArgument when empty; NotFound when malformed or not in the pool.
  StatusOr<catalog::VolumeRecord> FindVolume(const std::string& id);
  // Loop devices whose backing file is this volume's image.
  StatusOr<std::vector<std::string>> LoopsOf(const std::string& volume_id);
  // The top mount at `path`, if any.
  StatusOr<std::optional<host::MountEntry>> MountAt(const std::string& path);
  // Runs a tool; a non-zero exit becomes an error carrying its stderr.
  StatusOr<host::CommandResult> RunTool(const std::vector<std::string>& argv);
  // The filesystem type on `device`: "" when blkid finds nothing at all;
  // FailedPrecondition when it finds something that is not a filesystem.
  StatusOr<std::string> ProbeFilesystem(const std::string& device);
  // `failed` (a write into `volume` that failed), or RESOURCE_EXHAUSTED saying
  // the pool is full when it has less free space than the volume's capacity.
  Status ExplainFullPool(const Status& failed, const catalog::VolumeRecord& volume);
  Status Format(const std::string& device, const std::string& fs_type);
  Status GrowFilesystem(const std::string& device, const std::string& mount_point,
                        const std::string& fs_type);
  // Grows the (unmounted) ext4 filesystem on `device` to fill it when the
  // device is larger: e2fsck -f -p, then resize2fs. Returns whether it grew.
  StatusOr<bool> GrowExt4Offline(const std::string& device);
  Status MountFilesystem(const std::string& device, const std::string& target,
                         const std::string& fs_type, const std::vector<std::string>& flags,
                         bool read_only);
  // Whether `path` is this volume's staging path or one of its targets.
  StatusOr<bool> IsVolumePath(const std::string& volume_id, const std::string& path);

  DriverContext& context_;
};

}  // namespace ditto::csi
