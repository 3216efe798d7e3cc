// ControllerService's snapshot RPCs: CreateSnapshot, DeleteSnapshot,
// ListSnapshots and GetSnapshot.
#include <google/protobuf/util/time_util.h>

#include <optional>

#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/controller_service.h"
#include "csi/validation.h"
#include "fmt/format.h"

namespace ditto::csi {
namespace {

void FillSnapshot(const catalog::SnapshotRecord& record, pb::Snapshot* snapshot) {
  snapshot->set_size_bytes(record.size_bytes);
  snapshot->set_snapshot_id(record.id);
  snapshot->set_source_volume_id(record.source_volume_id);
  *snapshot->mutable_creation_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(record.created_at_ns);
  snapshot->set_ready_to_use(record.state == catalog::State::kReady);
  // A member of a group snapshot is named "<group ID>-<volume ID>"
  // (Pool::CreateGroupSnapshot).
  std::string_view group = std::string_view(record.name).substr(0, record.name.find("-vol-"));
  if (group.size() < record.name.size() && IsValidGroupSnapshotId(group)) {
    snapshot->set_group_snapshot_id(std::string(group));
  }
}

}  // namespace

Status ControllerService::DoCreateSnapshot(const pb::CreateSnapshotRequest& request,
                                           pb::CreateSnapshotResponse* response) {
  if (request.source_volume_id().empty()) {
    return absl::InvalidArgumentError("source_volume_id is required");
  }
  RETURN_IF_ERROR(ValidateName(request.name(), "name"));
  ASSIGN_OR_RETURN(auto parameters, ParseSnapshotParameters(request.parameters()));
  ASSIGN_OR_RETURN(auto existing, context_.pool.FindSnapshotByName(request.name()));
  if (existing && existing->source_volume_id != request.source_volume_id()) {
    return absl::AlreadyExistsError(fmt::format(
        "a snapshot named {} already exists of volume {}, not of {}; use another name",
        request.name(), existing->source_volume_id, request.source_volume_id().substr(0, 128)));
  }
  if (existing && existing->state == catalog::State::kReady) {
    // Repeats succeed even after the source volume was deleted.
    FillSnapshot(*existing, response->mutable_snapshot());
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.source_volume_id(), "source_volume_id"));
  ASSIGN_OR_RETURN(auto hold,
                   context_.locks.TryAcquire({"snapname:" + request.name()}, {"vol:" + volume.id}));
  ASSIGN_OR_RETURN(auto result,
                   context_.pool.CreateSnapshot(request.name(), volume.id,
                                                parameters.crash_consistent
                                                    ? pool::Consistency::kCrash
                                                    : pool::Consistency::kFilesystem));
  RETURN_IF_ERROR(Failpoint("csi.create_snapshot.before_reply"));
  FillSnapshot(result.snapshot, response->mutable_snapshot());
  return absl::OkStatus();
}

Status ControllerService::DoDeleteSnapshot(const pb::DeleteSnapshotRequest& request) {
  const std::string& id = request.snapshot_id();
  if (id.empty()) return absl::InvalidArgumentError("snapshot_id is required");
  if (!IsValidSnapshotId(id)) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"snap:" + id}));
  return context_.pool.DeleteSnapshot(id);
}

Status ControllerService::DoListSnapshots(const pb::ListSnapshotsRequest& request,
                                          pb::ListSnapshotsResponse* response) {
  if (request.max_entries() < 0) {
    return absl::InvalidArgumentError(
        fmt::format("max_entries must not be negative (got {})", request.max_entries()));
  }
  std::optional<PageToken> after;
  if (!request.starting_token().empty()) {
    ASSIGN_OR_RETURN(after, DecodePageToken(request.starting_token(), &IsValidSnapshotId));
  }
  // Filters naming something that cannot exist match nothing (not an error).
  if (!request.snapshot_id().empty() && !IsValidSnapshotId(request.snapshot_id())) {
    return absl::OkStatus();
  }
  if (!request.source_volume_id().empty() && !IsValidVolumeId(request.source_volume_id())) {
    return absl::OkStatus();
  }
  if (!request.snapshot_id().empty()) {
    // One snapshot at most: looked up by its ID.
    auto snapshot = context_.pool.GetSnapshot(request.snapshot_id());
    if (absl::IsNotFound(snapshot.status())) return absl::OkStatus();
    RETURN_IF_ERROR(snapshot.status());
    bool matches = (request.source_volume_id().empty() ||
                    snapshot->source_volume_id == request.source_volume_id()) &&
                   (!after || IsAfter(*after, snapshot->created_at_ns, snapshot->id));
    if (matches) FillSnapshot(*snapshot, response->add_entries()->mutable_snapshot());
    return absl::OkStatus();
  }
  // One more than the page: whether there is a next page, without counting.
  const int64_t limit = request.max_entries();
  ASSIGN_OR_RETURN(auto snapshots,
                   context_.pool.ListSnapshotsPage(ListPositionOf(after),
                                                   limit > 0 ? limit + 1 : 0,
                                                   request.source_volume_id()));
  for (size_t i = 0; i < snapshots.size(); ++i) {
    if (limit > 0 && i == static_cast<size_t>(limit)) {
      response->set_next_token(
          EncodePageToken({snapshots[i - 1].created_at_ns, snapshots[i - 1].id}));
      break;
    }
    FillSnapshot(snapshots[i], response->add_entries()->mutable_snapshot());
  }
  return absl::OkStatus();
}

Status ControllerService::DoGetSnapshot(const pb::GetSnapshotRequest& request,
                                        pb::GetSnapshotResponse* response) {
  const std::string& id = request.snapshot_id();
  if (id.empty()) return absl::InvalidArgumentError("snapshot_id is required");
  if (!IsValidSnapshotId(id)) {
    return absl::NotFoundError(
        fmt::format("snapshot {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto snapshot, context_.pool.GetSnapshot(id));
  FillSnapshot(snapshot, response->mutable_snapshot());
  return absl::OkStatus();
}

}  // namespace ditto::csi
