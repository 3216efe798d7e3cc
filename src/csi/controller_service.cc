#include "csi/controller_service.h"

#include <algorithm>
#include <optional>

#include "common/failpoint.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "csi/create_volume_plan.h"
#include "csi/serve.h"
#include "csi/validation.h"
#include "fmt/format.h"

namespace ditto::csi {
namespace {

constexpr char kService[] = "Controller";

}  // namespace

// ---- gRPC entry points: one line each, the logic is in Do*() ----
// (the snapshot RPCs' Do*() are in controller_snapshots.cc)

grpc::Status ControllerService::CreateVolume(Ctx*, const pb::CreateVolumeRequest* request,
                                             pb::CreateVolumeResponse* response) {
  std::string source;
  if (request->volume_content_source().has_volume()) {
    source = request->volume_content_source().volume().volume_id();
  } else if (request->volume_content_source().has_snapshot()) {
    source = request->volume_content_source().snapshot().snapshot_id();
  }
  return Serve(context_.observer, kService, "CreateVolume",
               Subject({{"name", request->name()}, {"source", source}}),
               [&] { return DoCreateVolume(*request, response); });
}

grpc::Status ControllerService::DeleteVolume(Ctx*, const pb::DeleteVolumeRequest* request,
                                             pb::DeleteVolumeResponse*) {
  return Serve(context_.observer, kService, "DeleteVolume",
               Subject({{"volume_id", request->volume_id()}}),
               [&] { return DoDeleteVolume(*request); });
}

grpc::Status ControllerService::ControllerPublishVolume(
    Ctx*, const pb::ControllerPublishVolumeRequest* request, pb::ControllerPublishVolumeResponse*) {
  return Serve(context_.observer, kService, "ControllerPublishVolume",
               Subject({{"volume_id", request->volume_id()}}), [] {
                 return absl::UnimplementedError(
                     "ControllerPublishVolume is not offered: ditto volumes have no attach step "
                     "(no PUBLISH_UNPUBLISH_VOLUME capability)");
               });
}

grpc::Status ControllerService::ControllerUnpublishVolume(
    Ctx*, const pb::ControllerUnpublishVolumeRequest* request,
    pb::ControllerUnpublishVolumeResponse*) {
  return Serve(context_.observer, kService, "ControllerUnpublishVolume",
               Subject({{"volume_id", request->volume_id()}}), [] {
                 return absl::UnimplementedError(
                     "ControllerUnpublishVolume is not offered: ditto volumes have no attach "
                     "step (no PUBLISH_UNPUBLISH_VOLUME capability)");
               });
}

grpc::Status ControllerService::ControllerModifyVolume(
    Ctx*, const pb::ControllerModifyVolumeRequest* request, pb::ControllerModifyVolumeResponse*) {
  return Serve(context_.observer, kService, "ControllerModifyVolume",
               Subject({{"volume_id", request->volume_id()}}),
               [&] { return DoControllerModifyVolume(*request); });
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    Ctx*, const pb::ValidateVolumeCapabilitiesRequest* request,
    pb::ValidateVolumeCapabilitiesResponse* response) {
  return Serve(context_.observer, kService, "ValidateVolumeCapabilities",
               Subject({{"volume_id", request->volume_id()}}),
               [&] { return DoValidateVolumeCapabilities(*request, response); });
}

grpc::Status ControllerService::ListVolumes(Ctx*, const pb::ListVolumesRequest* request,
                                            pb::ListVolumesResponse* response) {
  return Serve(context_.observer, kService, "ListVolumes", "",
               [&] { return DoListVolumes(*request, response); });
}

grpc::Status ControllerService::GetCapacity(Ctx*, const pb::GetCapacityRequest* request,
                                            pb::GetCapacityResponse* response) {
  return Serve(context_.observer, kService, "GetCapacity", "",
               [&] { return DoGetCapacity(*request, response); });
}

grpc::Status ControllerService::ControllerGetCapabilities(
    Ctx*, const pb::ControllerGetCapabilitiesRequest*,
    pb::ControllerGetCapabilitiesResponse* response) {
  return Serve(context_.observer, kService, "ControllerGetCapabilities", "", [&]() -> Status {
    using Rpc = pb::ControllerServiceCapability::RPC;
    for (auto type : {Rpc::CREATE_DELETE_VOLUME, Rpc::CLONE_VOLUME, Rpc::CREATE_DELETE_SNAPSHOT,
                      Rpc::LIST_SNAPSHOTS, Rpc::LIST_VOLUMES, Rpc::GET_CAPACITY, Rpc::EXPAND_VOLUME,
                      Rpc::GET_VOLUME, Rpc::VOLUME_CONDITION, Rpc::GET_SNAPSHOT,
                      Rpc::SINGLE_NODE_MULTI_WRITER, Rpc::MODIFY_VOLUME}) {
      response->add_capabilities()->mutable_rpc()->set_type(type);
    }
    return absl::OkStatus();
  });
}

grpc::Status ControllerService::CreateSnapshot(Ctx*, const pb::CreateSnapshotRequest* request,
                                               pb::CreateSnapshotResponse* response) {
  return Serve(
      context_.observer, kService, "CreateSnapshot",
      Subject({{"name", request->name()}, {"source_volume_id", request->source_volume_id()}}),
      [&] { return DoCreateSnapshot(*request, response); });
}

grpc::Status ControllerService::DeleteSnapshot(Ctx*, const pb::DeleteSnapshotRequest* request,
                                               pb::DeleteSnapshotResponse*) {
  return Serve(context_.observer, kService, "DeleteSnapshot",
               Subject({{"snapshot_id", request->snapshot_id()}}),
               [&] { return DoDeleteSnapshot(*request); });
}

grpc::Status ControllerService::ListSnapshots(Ctx*, const pb::ListSnapshotsRequest* request,
                                              pb::ListSnapshotsResponse* response) {
  return Serve(context_.observer, kService, "ListSnapshots",
               Subject({{"snapshot_id", request->snapshot_id()},
                        {"source_volume_id", request->source_volume_id()}}),
               [&] { return DoListSnapshots(*request, response); });
}

grpc::Status ControllerService::GetSnapshot(Ctx*, const pb::GetSnapshotRequest* request,
                                            pb::GetSnapshotResponse* response) {
  return Serve(context_.observer, kService, "GetSnapshot",
               Subject({{"snapshot_id", request->snapshot_id()}}),
               [&] { return DoGetSnapshot(*request, response); });
}

grpc::Status ControllerService::ControllerExpandVolume(
    Ctx*, const pb::ControllerExpandVolumeRequest* request,
    pb::ControllerExpandVolumeResponse* response) {
  return Serve(context_.observer, kService, "ControllerExpandVolume",
               Subject({{"volume_id", request->volume_id()}}),
               [&] { return DoControllerExpandVolume(*request, response); });
}

grpc::Status ControllerService::ControllerGetVolume(Ctx*,
                                                    const pb::ControllerGetVolumeRequest* request,
                                                    pb::ControllerGetVolumeResponse* response) {
  return Serve(context_.observer, kService, "ControllerGetVolume",
               Subject({{"volume_id", request->volume_id()}}),
               [&] { return DoControllerGetVolume(*request, response); });
}

// ---- helpers ----

StatusOr<catalog::VolumeRecord> ControllerService::FindVolume(const std::string& id,
                                                              std::string_view field) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{} is required", field));
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(fmt::format(
        "volume {} does not exist ({} is not an ID this driver made)", id.substr(0, 128), field));
  }
  return context_.pool.GetVolume(id);
}

void ControllerService::FillVolume(const catalog::VolumeRecord& record, pb::Volume* volume) const {
  volume->set_capacity_bytes(record.capacity_bytes);
  volume->set_volume_id(record.id);
  if (record.source_kind == "volume") {
    volume->mutable_content_source()->mutable_volume()->set_volume_id(record.source_id);
  } else if (record.source_kind == "snapshot") {
    volume->mutable_content_source()->mutable_snapshot()->set_snapshot_id(record.source_id);
  }
  (*volume->add_accessible_topology()->mutable_segments())[kTopologyKey] = context_.options.node_id;
}

pb::VolumeCondition ControllerService::Condition(const catalog::VolumeRecord& record) {
  pb::VolumeCondition condition;
  std::string path = context_.pool.VolumePath(record.id);
  auto info = context_.host.Stat(path);
  if (!info.ok()) {
    condition.set_abnormal(true);
    condition.set_message(fmt::format("the volume's image {} cannot be found: {}", path,
                                      std::string(info.status().message())));
    return condition;
  }
  if (!info->is_regular) {
    condition.set_abnormal(true);
    condition.set_message(fmt::format("the volume's image {} is not a regular file", path));
    return condition;
  }
  if (info->size < static_cast<uint64_t>(record.capacity_bytes)) {
    condition.set_abnormal(true);
    condition.set_message(
        fmt::format("the volume's image {} is {} bytes, less than its capacity {}", path,
                    info->size, record.capacity_bytes));
    return condition;
  }
  auto read = context_.host.ReadAt(path, 0, 4096);
  if (!read.ok()) {
    condition.set_abnormal(true);
    condition.set_message(fmt::format("the volume's image {} cannot be read: {}", path,
                                      std::string(read.status().message())));
    return condition;
  }
  condition.set_abnormal(false);
  condition.set_message("the volume's image is present and readable");
  return condition;
}

// ---- volumes ----

StatusOr<bool> ControllerService::AnswerExistingVolume(const CreateVolumePlan& plan,
                                                      pb::CreateVolumeResponse* response) {
  ASSIGN_OR_RETURN(auto existing, context_.pool.FindVolumeByName(plan.name));
  if (!existing || existing->state != catalog::State::kReady) return false;
  std::string why = IncompatibilityWith(plan, *existing);
  if (!why.empty()) {
    return absl::AlreadyExistsError(fmt::format(
        "a volume named {} already exists ({}) but {}; repeat the original request or use "
        "another name",
        plan.name, existing->id, why));
  }
  FillVolume(*existing, response->mutable_volume());
  return true;
}

Status ControllerService::DoCreateVolume(const pb::CreateVolumeRequest& request,
                                         pb::CreateVolumeResponse* response) {
  ASSIGN_OR_RETURN(CreateVolumePlan plan, ParseCreateVolumeRequest(request));
  if (context_.transfers != nullptr && plan.source_kind != pool::SourceKind::kNone) {
    ASSIGN_OR_RETURN(std::optional<peer::PeerAddress> holder,
                     context_.transfers->HolderOf(plan.source_id));
    if (holder) return DoCreateVolumeFromPeer(request, *holder, plan, response);
  }
  ASSIGN_OR_RETURN(SourceFacts source, LookUpSource(plan));
  RETURN_IF_ERROR(CompleteCreateVolumePlan(request, source, context_.options.node_id, plan));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"name:" + plan.name}, plan.SharedLocks()));

  // Idempotency by name, with the CSI notion of "compatible": the existing
  // volume satisfies the range, capabilities, parameters and source.
  ASSIGN_OR_RETURN(bool answered, AnswerExistingVolume(plan, response));
  if (answered) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto result, context_.pool.CreateVolume(plan.Spec()));
  RETURN_IF_ERROR(Failpoint("csi.create_volume.before_reply"));
  FillVolume(result.volume, response->mutable_volume());
  return absl::OkStatus();
}

StatusOr<SourceFacts> ControllerService::LookUpSource(const CreateVolumePlan& plan) {
  SourceFacts facts;
  if (plan.source_kind == pool::SourceKind::kVolume) {
    ASSIGN_OR_RETURN(auto volume,
                     FindVolume(plan.source_id, "volume_content_source.volume.volume_id"));
    facts.bytes = volume.capacity_bytes;
    facts.mode = volume.mode_hint;
    facts.fs_type = volume.fs_type;
  } else if (plan.source_kind == pool::SourceKind::kSnapshot) {
    ASSIGN_OR_RETURN(auto snapshot, context_.pool.GetSnapshot(plan.source_id));
    facts.bytes = snapshot.size_bytes;
    // The snapshot holds what its volume held; if the volume still exists
    // its record says how that data was used.
    auto volume = context_.pool.GetVolume(snapshot.source_volume_id);
    if (volume.ok()) {
      facts.mode = volume->mode_hint;
      facts.fs_type = volume->fs_type;
    }
  }
  return facts;
}

Status ControllerService::DoDeleteVolume(const pb::DeleteVolumeRequest& request) {
  const std::string& id = request.volume_id();
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  // A malformed ID names no volume: deleting it is already done.
  if (!IsValidVolumeId(id)) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + id}));
  // The pool refuses (FAILED_PRECONDITION) while the volume is staged.
  return context_.pool.DeleteVolume(id);
}

Status ControllerService::DoValidateVolumeCapabilities(
    const pb::ValidateVolumeCapabilitiesRequest& request,
    pb::ValidateVolumeCapabilitiesResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  ASSIGN_OR_RETURN(auto capabilities,
                   ParseCapabilities(request.volume_capabilities(), "volume_capabilities"));
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id(), "volume_id"));
  ASSIGN_OR_RETURN(VolumeParameters parameters, ParseVolumeParameters(request.parameters()));
  (void)parameters;

  auto refuse = [&](std::string message) {
    response->clear_confirmed();
    response->set_message(std::move(message));
    return absl::OkStatus();
  };
  if (!request.volume_context().empty()) {
    return refuse("volume_context does not match the volume's (ditto volumes have an empty one)");
  }
  if (auto parsed = ParseMutableParameters(request.mutable_parameters()); !parsed.ok()) {
    return refuse(std::string(parsed.status().message()));
  }
  for (const auto& capability : capabilities) {
    if (!IsSupportedAccessMode(capability.mode)) {
      return refuse(fmt::format("access mode {} is not supported; use {}",
                                AccessModeName(capability.mode), SupportedModes()));
    }
    if (!ModeServes(volume.mode_hint, capability)) {
      return refuse(fmt::format("the volume is a {} volume, not usable as {}", volume.mode_hint,
                                AccessTypeName(capability.block)));
    }
    if (!capability.block && !capability.fs_type.empty() && !volume.fs_type.empty() &&
        capability.fs_type != volume.fs_type) {
      return refuse(
          fmt::format("the volume's filesystem is {}, not {}", volume.fs_type, capability.fs_type));
    }
  }
  auto* confirmed = response->mutable_confirmed();
  *confirmed->mutable_volume_capabilities() = request.volume_capabilities();
  *confirmed->mutable_parameters() = request.parameters();
  *confirmed->mutable_mutable_parameters() = request.mutable_parameters();
  return absl::OkStatus();
}

Status ControllerService::DoListVolumes(const pb::ListVolumesRequest& request,
                                        pb::ListVolumesResponse* response) {
  if (request.max_entries() < 0) {
    return absl::InvalidArgumentError(
        fmt::format("max_entries must not be negative (got {})", request.max_entries()));
  }
  std::optional<PageToken> after;
  if (!request.starting_token().empty()) {
    ASSIGN_OR_RETURN(after, DecodePageToken(request.starting_token(), &IsValidVolumeId));
  }
  // One more than the page: whether there is a next page, without counting.
  const int64_t limit = request.max_entries();
  ASSIGN_OR_RETURN(auto volumes,
                   context_.pool.ListVolumesPage(ListPositionOf(after), limit > 0 ? limit + 1 : 0));
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (limit > 0 && i == static_cast<size_t>(limit)) {
      response->set_next_token(EncodePageToken({volumes[i - 1].created_at_ns, volumes[i - 1].id}));
      break;
    }
    auto* entry = response->add_entries();
    FillVolume(volumes[i], entry->mutable_volume());
    *entry->mutable_status()->mutable_volume_condition() = Condition(volumes[i]);
  }
  return absl::OkStatus();
}

Status ControllerService::DoGetCapacity(const pb::GetCapacityRequest& request,
                                        pb::GetCapacityResponse* response) {
  bool usable = true;
  if (!request.volume_capabilities().empty()) {
    ASSIGN_OR_RETURN(auto capabilities,
                     ParseCapabilities(request.volume_capabilities(), "volume_capabilities"));
    for (const auto& capability : capabilities) {
      if (!IsSupportedAccessMode(capability.mode)) usable = false;
    }
  }
  ASSIGN_OR_RETURN(VolumeParameters parameters, ParseVolumeParameters(request.parameters()));
  (void)parameters;
  if (request.has_accessible_topology() && !request.accessible_topology().segments().empty()) {
    const auto& segments = request.accessible_topology().segments();
    auto it = segments.find(kTopologyKey);
    if (it == segments.end() || it->second != context_.options.node_id) usable = false;
  }
  if (!usable) {
    // No storage here can make such volumes.
    response->set_available_capacity(0);
    return absl::OkStatus();
  }
  // Free space less what thick volumes hold for their overwrites.
  ASSIGN_OR_RETURN(uint64_t free_bytes, context_.pool.AvailableBytes());
  response->set_available_capacity(static_cast<int64_t>(std::min<uint64_t>(free_bytes, INT64_MAX)));
  return absl::OkStatus();
}

Status ControllerService::DoControllerExpandVolume(const pb::ControllerExpandVolumeRequest& request,
                                                   pb::ControllerExpandVolumeResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (!request.has_capacity_range()) {
    return absl::InvalidArgumentError("capacity_range is required");
  }
  const auto& range = request.capacity_range();
  RETURN_IF_ERROR(ValidateCapacityRange(range, "capacity_range"));
  if (range.required_bytes() == 0 && range.limit_bytes() == 0) {
    return absl::InvalidArgumentError(
        "capacity_range needs required_bytes or limit_bytes (the size to expand to)");
  }
  std::optional<Capability> capability;
  if (request.has_volume_capability()) {
    ASSIGN_OR_RETURN(capability, ParseCapability(request.volume_capability(), "volume_capability"));
    if (!IsSupportedAccessMode(capability->mode)) {
      return absl::InvalidArgumentError(fmt::format("access mode {} is not supported; use {}",
                                                    AccessModeName(capability->mode),
                                                    SupportedModes()));
    }
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id(), "volume_id"));
  if (capability && !ModeServes(volume.mode_hint, *capability)) {
    return absl::InvalidArgumentError(fmt::format("volume {} is a {} volume, not usable as {}",
                                                  volume.id, volume.mode_hint,
                                                  AccessTypeName(capability->block)));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  uint64_t have = volume.capacity_bytes;
  uint64_t limit = range.limit_bytes();
  uint64_t target = range.required_bytes() > 0 ? AlignCapacity(range.required_bytes()) : have;
  if (limit > 0 && have > limit) {
    return absl::OutOfRangeError(
        fmt::format("volume {} is already {} bytes, more than limit_bytes {}; volumes never shrink",
                    volume.id, have, limit));
  }
  if (limit > 0 && target > limit) {
    return absl::OutOfRangeError(
        fmt::format("required_bytes rounded up to whole {}-byte blocks ({}) exceeds limit_bytes {}",
                    kCapacityAlignment, target, limit));
  }
  if (target > have) {
    ASSIGN_OR_RETURN(volume, context_.pool.ExpandVolume(volume.id, target));
  }
  response->set_capacity_bytes(volume.capacity_bytes);
  // Mount volumes need their filesystem grown; block volumes need the loop
  // device to pick up the new size. Both happen in NodeExpandVolume.
  response->set_node_expansion_required(true);
  return absl::OkStatus();
}

Status ControllerService::DoControllerGetVolume(const pb::ControllerGetVolumeRequest& request,
                                                pb::ControllerGetVolumeResponse* response) {
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id(), "volume_id"));
  FillVolume(volume, response->mutable_volume());
  *response->mutable_status()->mutable_volume_condition() = Condition(volume);
  return absl::OkStatus();
}

// ---- modification ----

Status ControllerService::DoControllerModifyVolume(const pb::ControllerModifyVolumeRequest& request) {
  // NOT_FOUND before the parameters are judged: csi-sanity sends an unknown
  // volume with whatever parameters it was configured with.
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id(), "volume_id"));
  ASSIGN_OR_RETURN(MutableParameters parameters,
                   ParseMutableParameters(request.mutable_parameters()));
  // Only the keys given change anything (CSI spec); none given is a no-op,
  // as csi-sanity expects when run without mutable parameters.
  if (!parameters.thick) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  return context_.pool.SetVolumeThick(volume.id, *parameters.thick).status();
}

}  // namespace ditto::csi
