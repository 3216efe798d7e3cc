// CSI SnapshotMetadata (plugin capability SNAPSHOT_METADATA_SERVICE): the
// allocated ranges of one snapshot and the changed ranges between two
// snapshots of one volume, streamed, from the snapshot images' extent maps
// (pool/changed_blocks.h). Ranges are VARIABLE_LENGTH byte ranges at the
// pool filesystem's block size (4 KiB), so a whole-block write is reported as
// exactly its blocks.
#pragma once

#include "csi.grpc.pb.h"
#include "csi/driver_context.h"
#include "pool/changed_blocks.h"

namespace ditto::csi {

class SnapshotMetadataService final : public ::csi::v1::SnapshotMetadata::Service {
 public:
  explicit SnapshotMetadataService(DriverContext& context) : context_(context) {}

  using Ctx = grpc::ServerContext;
  grpc::Status GetMetadataAllocated(
      Ctx* context, const ::csi::v1::GetMetadataAllocatedRequest* request,
      grpc::ServerWriter<::csi::v1::GetMetadataAllocatedResponse>* writer) override;
  grpc::Status GetMetadataDelta(
      Ctx* context, const ::csi::v1::GetMetadataDeltaRequest* request,
      grpc::ServerWriter<::csi::v1::GetMetadataDeltaResponse>* writer) override;

 private:
  Status DoAllocated(Ctx* context, const ::csi::v1::GetMetadataAllocatedRequest& request,
                     grpc::ServerWriter<::csi::v1::GetMetadataAllocatedResponse>* writer);
  Status DoDelta(Ctx* context, const ::csi::v1::GetMetadataDeltaRequest& request,
                 grpc::ServerWriter<::csi::v1::GetMetadataDeltaResponse>* writer);

  DriverContext& context_;
};

}  // namespace ditto::csi
