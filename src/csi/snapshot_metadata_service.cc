#include "csi/snapshot_metadata_service.h"

#include <algorithm>

#include "common/ids.h"
#include "csi/serve.h"
#include "fmt/format.h"

namespace ditto::csi {
namespace {

namespace pb = ::csi::v1;
constexpr char kService[] = "SnapshotMetadata";
// Tuples per response when the request leaves max_results 0.
constexpr int kDefaultMaxResults = 1024;

StatusOr<catalog::SnapshotRecord> FindSnapshot(pool::Pool& pool, const std::string& id,
                                               std::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (!IsValidSnapshotId(id)) {
    return absl::NotFoundError(fmt::format("snapshot {} does not exist ({} is not an ID this "
                                           "driver made)",
                                           id.substr(0, 128), field));
  }
  auto snapshot = pool.GetSnapshot(id);
  if (absl::IsNotFound(snapshot.status())) {
    return absl::NotFoundError(
        fmt::format("snapshot {} ({}) does not exist; check the VolumeSnapshotContent's "
                    "snapshotHandle",
                    id, field));
  }
  return snapshot;
}

// starting_offset and max_results, checked per the spec's error table.
Status CheckWindow(int64_t starting_offset, int32_t max_results, int64_t capacity) {
  if (starting_offset < 0 || starting_offset > capacity) {
    return absl::OutOfRangeError(fmt::format(
        "starting_offset {} is outside the snapshot's {} bytes; give 0 to start, or the byte "
        "after the last range received to resume",
        starting_offset, capacity));
  }
  if (max_results < 0) {
    return absl::InvalidArgumentError(
        fmt::format("max_results {} is negative; give 0 (the driver chooses) or a positive count",
                    max_results));
  }
  return absl::OkStatus();
}

// Streams `ranges` in messages of at most `max_results` tuples. The spec's
// stream rule: every message carries the type and capacity; an empty result
// is a stream without messages.
template <typename Response>
Status Stream(grpc::ServerContext* context, grpc::ServerWriter<Response>* writer,
              const std::vector<pool::ByteRange>& ranges, int32_t max_results, int64_t capacity) {
  size_t per_message = max_results > 0 ? static_cast<size_t>(max_results) : kDefaultMaxResults;
  for (size_t begin = 0; begin < ranges.size(); begin += per_message) {
    if (context != nullptr && context->IsCancelled()) {
      return absl::CancelledError("the client cancelled the stream");
    }
    Response response;
    response.set_block_metadata_type(pb::VARIABLE_LENGTH);
    response.set_volume_capacity_bytes(capacity);
    size_t end = std::min(ranges.size(), begin + per_message);
    for (size_t i = begin; i < end; ++i) {
      pb::BlockMetadata* tuple = response.add_block_metadata();
      tuple->set_byte_offset(static_cast<int64_t>(ranges[i].offset));
      tuple->set_size_bytes(static_cast<int64_t>(ranges[i].length));
    }
    if (!writer->Write(response)) {
      return absl::UnavailableError("the stream was closed before all metadata was sent; resume "
                                    "with starting_offset after the last range received");
    }
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status SnapshotMetadataService::GetMetadataAllocated(
    Ctx* context, const pb::GetMetadataAllocatedRequest* request,
    grpc::ServerWriter<pb::GetMetadataAllocatedResponse>* writer) {
  return Serve(context_.observer, kService, "GetMetadataAllocated",
               Subject({{"snapshot_id", request->snapshot_id()}}),
               [&] { return DoAllocated(context, *request, writer); });
}

grpc::Status SnapshotMetadataService::GetMetadataDelta(
    Ctx* context, const pb::GetMetadataDeltaRequest* request,
    grpc::ServerWriter<pb::GetMetadataDeltaResponse>* writer) {
  return Serve(context_.observer, kService, "GetMetadataDelta",
               Subject({{"base_snapshot_id", request->base_snapshot_id()},
                        {"target_snapshot_id", request->target_snapshot_id()}}),
               [&] { return DoDelta(context, *request, writer); });
}

Status SnapshotMetadataService::DoAllocated(
    Ctx* context, const pb::GetMetadataAllocatedRequest& request,
    grpc::ServerWriter<pb::GetMetadataAllocatedResponse>* writer) {
  ASSIGN_OR_RETURN(auto snapshot, FindSnapshot(context_.pool, request.snapshot_id(), "snapshot_id"));
  RETURN_IF_ERROR(CheckWindow(request.starting_offset(), request.max_results(), snapshot.size_bytes));
  ASSIGN_OR_RETURN(auto extents, context_.host.Extents(context_.pool.SnapshotPath(snapshot.id)));
  auto ranges = pool::RangesFrom(
      pool::AllocatedRanges(extents, static_cast<uint64_t>(snapshot.size_bytes)),
      static_cast<uint64_t>(request.starting_offset()));
  return Stream(context, writer, ranges, request.max_results(), snapshot.size_bytes);
}

Status SnapshotMetadataService::DoDelta(Ctx* context, const pb::GetMetadataDeltaRequest& request,
                                        grpc::ServerWriter<pb::GetMetadataDeltaResponse>* writer) {
  ASSIGN_OR_RETURN(auto base,
                   FindSnapshot(context_.pool, request.base_snapshot_id(), "base_snapshot_id"));
  ASSIGN_OR_RETURN(auto target,
                   FindSnapshot(context_.pool, request.target_snapshot_id(), "target_snapshot_id"));
  if (base.source_volume_id != target.source_volume_id) {
    return absl::InvalidArgumentError(fmt::format(
        "snapshots {} and {} are of different volumes ({} and {}); a delta compares two "
        "snapshots of the same volume",
        base.id, target.id, base.source_volume_id, target.source_volume_id));
  }
  if (target.created_at_ns < base.created_at_ns) {
    return absl::InvalidArgumentError(fmt::format(
        "target snapshot {} is older than base snapshot {}; swap them (the base is the earlier "
        "one)",
        target.id, base.id));
  }
  // A sparse copy shares no extents with anything: there is nothing to
  // compare, so the spec's answer is FAILED_PRECONDITION (back up in full).
  for (const auto* snapshot : {&base, &target}) {
    // Reflinks and subvolume snapshots share extents with their source.
    if (snapshot->clone_method != "reflink" && snapshot->clone_method != "subvolume-snapshot") {
      return absl::FailedPreconditionError(fmt::format(
          "snapshot {} was made by {} on a pool that cannot reflink, so its blocks cannot be "
          "compared with another snapshot's; take a full backup (GetMetadataAllocated)",
          snapshot->id, snapshot->clone_method.empty() ? "copy" : snapshot->clone_method));
    }
  }
  RETURN_IF_ERROR(CheckWindow(request.starting_offset(), request.max_results(), target.size_bytes));
  ASSIGN_OR_RETURN(auto base_extents, context_.host.Extents(context_.pool.SnapshotPath(base.id)));
  ASSIGN_OR_RETURN(auto target_extents,
                   context_.host.Extents(context_.pool.SnapshotPath(target.id)));
  auto ranges = pool::RangesFrom(
      pool::ChangedRanges(base_extents, target_extents, static_cast<uint64_t>(target.size_bytes)),
      static_cast<uint64_t>(request.starting_offset()));
  return Stream(context, writer, ranges, request.max_results(), target.size_bytes);
}

}  // namespace ditto::csi
