// CsiClient's SnapshotMetadata calls: server streams read to the end.
#include "control/controllers/csi_client.h"
#include "fmt/format.h"

namespace ditto::control {
namespace {

template <typename Response>
StatusOr<BlockMetadata> Drain(const char* method, grpc::ClientReader<Response>& reader) {
  BlockMetadata out;
  Response response;
  while (reader.Read(&response)) {
    out.volume_capacity_bytes = response.volume_capacity_bytes();
    for (const auto& tuple : response.block_metadata()) {
      out.ranges.emplace_back(tuple.byte_offset(), tuple.size_bytes());
    }
  }
  grpc::Status status = reader.Finish();
  if (status.ok()) return out;
  return Status(static_cast<absl::StatusCode>(status.error_code()),
                fmt::format("{}: rpc error: code = {} desc = {}", method,
                            GrpcCodeName(status.error_code()), status.error_message()));
}

}  // namespace

StatusOr<BlockMetadata> CsiClient::GetMetadataAllocated(const std::string& snapshot_id) {
  auto stub = csi::v1::SnapshotMetadata::NewStub(channel_);
  csi::v1::GetMetadataAllocatedRequest request;
  request.set_snapshot_id(snapshot_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  auto reader = stub->GetMetadataAllocated(&context, request);
  return Drain("GetMetadataAllocated", *reader);
}

StatusOr<BlockMetadata> CsiClient::GetMetadataDelta(const std::string& base_snapshot_id,
                                                    const std::string& target_snapshot_id) {
  auto stub = csi::v1::SnapshotMetadata::NewStub(channel_);
  csi::v1::GetMetadataDeltaRequest request;
  request.set_base_snapshot_id(base_snapshot_id);
  request.set_target_snapshot_id(target_snapshot_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout_);
  auto reader = stub->GetMetadataDelta(&context, request);
  return Drain("GetMetadataDelta", *reader);
}

}  // namespace ditto::control
