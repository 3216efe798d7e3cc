#include "csi/group_controller_service.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "common/ids.h"
#include "csi/serve.h"
#include "csi/validation.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

namespace ditto::csi {
namespace {

namespace pb = ::csi::v1;
constexpr char kService[] = "GroupController";

void FillGroup(const pool::Pool::GroupSnapshot& group, pb::VolumeGroupSnapshot* out) {
  out->set_group_snapshot_id(group.group.id);
  *out->mutable_creation_time() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(group.group.created_at_ns);
  bool ready = !group.members.empty();
  for (const auto& member : group.members) {
    pb::Snapshot* snapshot = out->add_snapshots();
    snapshot->set_size_bytes(member.size_bytes);
    snapshot->set_snapshot_id(member.id);
    snapshot->set_source_volume_id(member.source_volume_id);
    *snapshot->mutable_creation_time() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(member.created_at_ns);
    snapshot->set_ready_to_use(member.state == catalog::State::kReady);
    snapshot->set_group_snapshot_id(group.group.id);
    ready = ready && snapshot->ready_to_use();
  }
  out->set_ready_to_use(ready);
}

// The spec's snapshot_ids check of Get and Delete: REQUIRED, and the same
// set as the group's members.
Status CheckSnapshotIds(const google::protobuf::RepeatedPtrField<std::string>& given,
                        const pool::Pool::GroupSnapshot& group) {
  if (given.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "snapshot_ids is required: list the {} snapshots of group snapshot {}",
        group.group.snapshot_ids.size(), group.group.id));
  }
  std::vector<std::string> asked(given.begin(), given.end());
  std::sort(asked.begin(), asked.end());
  asked.erase(std::unique(asked.begin(), asked.end()), asked.end());
  std::vector<std::string> have = group.group.snapshot_ids;
  std::sort(have.begin(), have.end());
  if (asked != have) {
    return absl::InvalidArgumentError(fmt::format(
        "snapshot_ids does not match group snapshot {}: it has {} snapshots ({}); pass exactly "
        "those",
        group.group.id, have.size(), fmt::join(have, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status GroupControllerService::GroupControllerGetCapabilities(
    Ctx*, const pb::GroupControllerGetCapabilitiesRequest*,
    pb::GroupControllerGetCapabilitiesResponse* response) {
  return Serve(context_.observer, kService, "GroupControllerGetCapabilities", "",
               [&]() -> Status {
                 response->add_capabilities()->mutable_rpc()->set_type(
                     pb::GroupControllerServiceCapability::RPC::
                         CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT);
                 return absl::OkStatus();
               });
}

grpc::Status GroupControllerService::CreateVolumeGroupSnapshot(
    Ctx*, const pb::CreateVolumeGroupSnapshotRequest* request,
    pb::CreateVolumeGroupSnapshotResponse* response) {
  return Serve(context_.observer, kService, "CreateVolumeGroupSnapshot",
               Subject({{"name", request->name()}}),
               [&] { return DoCreate(*request, response); });
}

grpc::Status GroupControllerService::DeleteVolumeGroupSnapshot(
    Ctx*, const pb::DeleteVolumeGroupSnapshotRequest* request,
    pb::DeleteVolumeGroupSnapshotResponse*) {
  return Serve(context_.observer, kService, "DeleteVolumeGroupSnapshot",
               Subject({{"group_snapshot_id", request->group_snapshot_id()}}),
               [&] { return DoDelete(*request); });
}

grpc::Status GroupControllerService::GetVolumeGroupSnapshot(
    Ctx*, const pb::GetVolumeGroupSnapshotRequest* request,
    pb::GetVolumeGroupSnapshotResponse* response) {
  return Serve(context_.observer, kService, "GetVolumeGroupSnapshot",
               Subject({{"group_snapshot_id", request->group_snapshot_id()}}),
               [&] { return DoGet(*request, response); });
}

Status GroupControllerService::DoCreate(const pb::CreateVolumeGroupSnapshotRequest& request,
                                        pb::CreateVolumeGroupSnapshotResponse* response) {
  RETURN_IF_ERROR(ValidateName(request.name(), "name"));
  if (request.source_volume_ids().empty()) {
    return absl::InvalidArgumentError(
        "source_volume_ids is required: name the volumes to snapshot together");
  }
  ASSIGN_OR_RETURN(auto parameters, ParseSnapshotParameters(request.parameters()));
  std::vector<std::string> volumes;
  for (const std::string& id : request.source_volume_ids()) {
    if (id.empty()) {
      return absl::InvalidArgumentError("source_volume_ids contains an empty volume ID");
    }
    if (!IsValidVolumeId(id)) {
      return absl::NotFoundError(fmt::format(
          "volume {} does not exist (source_volume_ids holds an ID this driver did not make)",
          id.substr(0, 128)));
    }
    volumes.push_back(id);
  }
  std::vector<std::string> keys = {"groupname:" + request.name()};
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire(keys));
  ASSIGN_OR_RETURN(auto group,
                   context_.pool.CreateGroupSnapshot(request.name(), volumes,
                                                     parameters.crash_consistent
                                                         ? pool::Consistency::kCrash
                                                         : pool::Consistency::kFilesystem));
  FillGroup(group, response->mutable_group_snapshot());
  return absl::OkStatus();
}

Status GroupControllerService::DoDelete(const pb::DeleteVolumeGroupSnapshotRequest& request) {
  const std::string& id = request.group_snapshot_id();
  if (id.empty()) return absl::InvalidArgumentError("group_snapshot_id is required");
  auto group = context_.pool.GetGroupSnapshot(id);
  // Gone (or never made by this driver): deleting it is already done.
  if (absl::IsNotFound(group.status())) return absl::OkStatus();
  RETURN_IF_ERROR(group.status());
  RETURN_IF_ERROR(CheckSnapshotIds(request.snapshot_ids(), *group));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"group:" + id}));
  return context_.pool.DeleteGroupSnapshot(id);
}

Status GroupControllerService::DoGet(const pb::GetVolumeGroupSnapshotRequest& request,
                                     pb::GetVolumeGroupSnapshotResponse* response) {
  const std::string& id = request.group_snapshot_id();
  if (id.empty()) return absl::InvalidArgumentError("group_snapshot_id is required");
  ASSIGN_OR_RETURN(auto group, context_.pool.GetGroupSnapshot(id));
  RETURN_IF_ERROR(CheckSnapshotIds(request.snapshot_ids(), group));
  FillGroup(group, response->mutable_group_snapshot());
  return absl::OkStatus();
}

}  // namespace ditto::csi
