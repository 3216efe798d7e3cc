#include "csi/create_volume_plan.h"

#include "common/ids.h"
#include "csi/driver.h"
#include "fmt/format.h"

namespace ditto::csi {
namespace {

// The source's kind and ID, checked for shape (not existence).
Status ParseContentSource(const pb::CreateVolumeRequest& request, CreateVolumePlan& plan) {
  if (!request.has_volume_content_source()) return absl::OkStatus();
  const auto& source = request.volume_content_source();
  if (source.has_volume()) {
    plan.source_kind = pool::SourceKind::kVolume;
    plan.source_id = source.volume().volume_id();
    constexpr std::string_view kField = "volume_content_source.volume.volume_id";
    if (plan.source_id.empty()) {
      return absl::InvalidArgumentError(fmt::format("{} is required", kField));
    }
    if (!IsValidVolumeId(plan.source_id)) {
      return absl::NotFoundError(
          fmt::format("volume {} does not exist ({} is not an ID this driver made)",
                      plan.source_id.substr(0, 128), kField));
    }
  } else if (source.has_snapshot()) {
    plan.source_kind = pool::SourceKind::kSnapshot;
    plan.source_id = source.snapshot().snapshot_id();
    if (plan.source_id.empty()) {
      return absl::InvalidArgumentError("volume_content_source.snapshot.snapshot_id is required");
    }
    if (!IsValidSnapshotId(plan.source_id)) {
      return absl::NotFoundError(fmt::format(
          "snapshot {} does not exist (not an ID this driver made)", plan.source_id.substr(0, 128)));
    }
  } else {
    return absl::InvalidArgumentError(
        "volume_content_source names neither a volume nor a snapshot; set one or leave the "
        "source out");
  }
  return absl::OkStatus();
}

}  // namespace

std::string SupportedModes() {
  return "SINGLE_NODE_WRITER, SINGLE_NODE_READER_ONLY, SINGLE_NODE_SINGLE_WRITER or "
         "SINGLE_NODE_MULTI_WRITER";
}

std::string ModeHintOf(const std::vector<Capability>& capabilities) {
  bool block = false;
  bool mount = false;
  for (const auto& capability : capabilities) (capability.block ? block : mount) = true;
  if (block && !mount) return kModeBlock;
  if (mount && !block) return kModeMount;
  return "";
}

bool ModeServes(std::string_view mode_hint, const Capability& capability) {
  if (mode_hint.empty()) return true;
  return capability.block ? mode_hint == kModeBlock : mode_hint == kModeMount;
}

std::string AccessTypeName(bool block) { return block ? "block" : "mount"; }

std::string CreateVolumePlan::SourceKindName() const {
  return source_kind == pool::SourceKind::kVolume     ? "volume"
         : source_kind == pool::SourceKind::kSnapshot ? "snapshot"
                                                      : "";
}

std::vector<std::string> CreateVolumePlan::SharedLocks() const {
  std::vector<std::string> shared;
  if (source_kind == pool::SourceKind::kVolume) shared.push_back("vol:" + source_id);
  if (source_kind == pool::SourceKind::kSnapshot) shared.push_back("snap:" + source_id);
  return shared;
}

pool::CreateVolumeSpec CreateVolumePlan::Spec() const {
  pool::CreateVolumeSpec spec;
  spec.name = name;
  spec.capacity_bytes = capacity_bytes;
  spec.thick = parameters.thick;
  spec.mode_hint = mode_hint;
  spec.fs_type = fs_type;
  spec.parameters = parameters.all;
  spec.source_kind = source_kind;
  spec.source_id = source_id;
  spec.consistency =
      parameters.crash_consistent ? pool::Consistency::kCrash : pool::Consistency::kFilesystem;
  return spec;
}

StatusOr<CreateVolumePlan> ParseCreateVolumeRequest(const pb::CreateVolumeRequest& request) {
  CreateVolumePlan plan;
  RETURN_IF_ERROR(ValidateName(request.name(), "name"));
  plan.name = request.name();
  ASSIGN_OR_RETURN(plan.capabilities,
                   ParseCapabilities(request.volume_capabilities(), "volume_capabilities"));
  for (const auto& capability : plan.capabilities) {
    if (!IsSupportedAccessMode(capability.mode)) {
      return absl::InvalidArgumentError(
          fmt::format("access mode {} is not supported: a ditto volume lives on one node; use {}",
                      AccessModeName(capability.mode), SupportedModes()));
    }
    if (!capability.fs_type.empty()) {
      if (!plan.requested_fs.empty() && plan.requested_fs != capability.fs_type) {
        return absl::InvalidArgumentError(
            fmt::format("volume_capabilities ask for two filesystems ({} and {}); a volume has one",
                        plan.requested_fs, capability.fs_type));
      }
      plan.requested_fs = capability.fs_type;
    }
  }
  plan.mode_hint = ModeHintOf(plan.capabilities);
  ASSIGN_OR_RETURN(plan.parameters, ParseVolumeParameters(request.parameters()));
  if (!plan.parameters.fs_type.empty()) {
    if (!plan.requested_fs.empty() && plan.requested_fs != plan.parameters.fs_type) {
      return absl::InvalidArgumentError(fmt::format(
          "parameters.{} is {} but the mount capability asks for {}; ask for one filesystem",
          kParamFsType, plan.parameters.fs_type, plan.requested_fs));
    }
    plan.requested_fs = plan.parameters.fs_type;
  }
  // mutable_parameters take precedence over parameters (CSI spec).
  ASSIGN_OR_RETURN(MutableParameters mutable_parameters,
                   ParseMutableParameters(request.mutable_parameters()));
  if (mutable_parameters.thick) plan.parameters.thick = *mutable_parameters.thick;
  if (request.has_capacity_range()) plan.capacity_range = request.capacity_range();
  RETURN_IF_ERROR(ParseContentSource(request, plan));
  return plan;
}

Status CompleteCreateVolumePlan(const pb::CreateVolumeRequest& request, const SourceFacts& source,
                                std::string_view node_id, CreateVolumePlan& plan) {
  if (plan.source_kind != pool::SourceKind::kNone) {
    for (const auto& capability : plan.capabilities) {
      if (!ModeServes(source.mode, capability)) {
        return absl::InvalidArgumentError(fmt::format(
            "the source {} is a {} volume; a volume made from it must be used the same way, not "
            "as {}",
            plan.source_id, source.mode, AccessTypeName(capability.block)));
      }
    }
    if (!source.fs_type.empty() && !plan.requested_fs.empty() &&
        source.fs_type != plan.requested_fs && plan.mode_hint != kModeBlock) {
      return absl::InvalidArgumentError(fmt::format(
          "the source {} holds an {} filesystem; a volume made from it cannot be {} (ask for {} "
          "or leave fs_type empty)",
          plan.source_id, source.fs_type, plan.requested_fs, source.fs_type));
    }
  }
  if (plan.mode_hint != kModeBlock) {
    plan.fs_type = !plan.requested_fs.empty() ? plan.requested_fs
                   : !source.fs_type.empty()  ? source.fs_type
                                              : std::string(kDefaultFsType);
  }
  if (request.has_accessibility_requirements() &&
      !TopologyAllows(request.accessibility_requirements(), node_id)) {
    return absl::ResourceExhaustedError(
        fmt::format("this driver instance can only make volumes on node {} ({}={}), which "
                    "accessibility_requirements.requisite excludes{}",
                    node_id, kTopologyKey, node_id,
                    plan.source_kind == pool::SourceKind::kNone
                        ? ""
                        : "; a clone or restore must be scheduled on its source's node"));
  }
  const pb::CapacityRange* range = plan.capacity_range ? &*plan.capacity_range : nullptr;
  ASSIGN_OR_RETURN(plan.capacity_bytes, ResolveCapacity(range, source.bytes));
  return absl::OkStatus();
}

std::string IncompatibilityWith(const CreateVolumePlan& plan,
                                const catalog::VolumeRecord& existing) {
  std::string why;
  uint64_t have = existing.capacity_bytes;
  const auto& range = plan.capacity_range;
  if (range && (range->required_bytes() > 0 || range->limit_bytes() > 0)) {
    if (have < static_cast<uint64_t>(range->required_bytes()) ||
        (range->limit_bytes() > 0 && have > static_cast<uint64_t>(range->limit_bytes()))) {
      why = fmt::format("its capacity {} is outside the requested capacity_range", have);
    }
  } else if (have != plan.capacity_bytes) {
    why = fmt::format("its capacity {} differs from the default {}", have, plan.capacity_bytes);
  }
  const std::string& existing_kind = existing.source_kind;
  if (why.empty() &&
      (existing_kind != plan.SourceKindName() || existing.source_id != plan.source_id)) {
    why = fmt::format("its content source ({} {}) differs",
                      existing_kind.empty() ? "none" : existing_kind, existing.source_id);
  }
  for (const auto& capability : plan.capabilities) {
    if (why.empty() && !ModeServes(existing.mode_hint, capability)) {
      why = fmt::format("it is a {} volume, not usable as {}", existing.mode_hint,
                        AccessTypeName(capability.block));
    }
  }
  if (why.empty() && !plan.requested_fs.empty() && !existing.fs_type.empty() &&
      existing.fs_type != plan.requested_fs) {
    why = fmt::format("its filesystem is {}, not {}", existing.fs_type, plan.requested_fs);
  }
  if (why.empty() && existing.parameters != plan.parameters.all) why = "its parameters differ";
  return why;
}

}  // namespace ditto::csi
