#include "csi/node_service.h"

#include <algorithm>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/serve.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {
namespace {

constexpr char kService[] = "Node";
constexpr int kMaxStackedMounts = 8;

std::string JoinFlags(const std::vector<std::string>& flags) {
  std::string out;
  for (const auto& flag : flags) out += (out.empty() ? "" : ",") + flag;
  return out;
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// Where a capability asks to be used: the code the node RPCs return when the
// volume cannot serve it ("exceeds capabilities").
Status CheckNodeCapability(const Capability& capability, const catalog::VolumeRecord& volume) {
  if (!IsSupportedAccessMode(capability.mode)) {
    return absl::FailedPreconditionError(
        fmt::format("access mode {} is not supported: a ditto volume lives on one node",
                    AccessModeName(capability.mode)));
  }
  if (!volume.mode_hint.empty() &&
      (capability.block ? volume.mode_hint != kModeBlock : volume.mode_hint != kModeMount)) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} was created as a {} volume and cannot be used as {}", volume.id,
                    volume.mode_hint, capability.block ? "block" : "mount"));
  }
  if (!capability.block && !capability.fs_type.empty() && !volume.fs_type.empty() &&
      capability.fs_type != volume.fs_type) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {} was created for {}, not {}", volume.id, volume.fs_type, capability.fs_type));
  }
  return absl::OkStatus();
}

// Staging and target paths come from the CO, which creates them. A symbolic
// link in one would make the driver create directories, files or mounts
// wherever it points, outside the CO's directories: refuse such a path. The
// deepest existing ancestor is checked, as the driver creates the rest.
Status RequireNoSymlinks(host::Host& host, const std::string& path, std::string_view field) {
  std::string existing = path;
  auto real = host.RealPath(existing);
  while (absl::IsNotFound(real.status()) && existing != "/") {
    existing = ParentOf(existing);
    real = host.RealPath(existing);
  }
  RETURN_IF_ERROR(real.status());
  if (*real != existing) {
    return absl::FailedPreconditionError(fmt::format(
        "{} {} leads through a symbolic link ({} is {}); the driver mounts only at the path it "
        "is given, so pass a path without symbolic links",
        field, path, existing, *real));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- gRPC entry points ----

grpc::Status NodeService::NodeStageVolume(Ctx*, const pb::NodeStageVolumeRequest* request,
                                          pb::NodeStageVolumeResponse*) {
  return Serve(context_.observer, kService, "NodeStageVolume",
               Subject({{"volume_id", request->volume_id()},
                        {"staging_target_path", request->staging_target_path()}}),
               [&] { return DoStage(*request); });
}

grpc::Status NodeService::NodeUnstageVolume(Ctx*, const pb::NodeUnstageVolumeRequest* request,
                                            pb::NodeUnstageVolumeResponse*) {
  return Serve(context_.observer, kService, "NodeUnstageVolume",
               Subject({{"volume_id", request->volume_id()},
                        {"staging_target_path", request->staging_target_path()}}),
               [&] { return DoUnstage(*request); });
}

grpc::Status NodeService::NodePublishVolume(Ctx*, const pb::NodePublishVolumeRequest* request,
                                            pb::NodePublishVolumeResponse*) {
  return Serve(
      context_.observer, kService, "NodePublishVolume",
      Subject({{"volume_id", request->volume_id()}, {"target_path", request->target_path()}}),
      [&] { return DoPublish(*request); });
}

grpc::Status NodeService::NodeUnpublishVolume(Ctx*, const pb::NodeUnpublishVolumeRequest* request,
                                              pb::NodeUnpublishVolumeResponse*) {
  return Serve(
      context_.observer, kService, "NodeUnpublishVolume",
      Subject({{"volume_id", request->volume_id()}, {"target_path", request->target_path()}}),
      [&] { return DoUnpublish(*request); });
}

grpc::Status NodeService::NodeGetVolumeStats(Ctx*, const pb::NodeGetVolumeStatsRequest* request,
                                             pb::NodeGetVolumeStatsResponse* response) {
  return Serve(
      context_.observer, kService, "NodeGetVolumeStats",
      Subject({{"volume_id", request->volume_id()}, {"volume_path", request->volume_path()}}),
      [&] { return DoGetVolumeStats(*request, response); });
}

grpc::Status NodeService::NodeExpandVolume(Ctx*, const pb::NodeExpandVolumeRequest* request,
                                           pb::NodeExpandVolumeResponse* response) {
  return Serve(
      context_.observer, kService, "NodeExpandVolume",
      Subject({{"volume_id", request->volume_id()}, {"volume_path", request->volume_path()}}),
      [&] { return DoExpand(*request, response); });
}

grpc::Status NodeService::NodeGetCapabilities(Ctx*, const pb::NodeGetCapabilitiesRequest*,
                                              pb::NodeGetCapabilitiesResponse* response) {
  return Serve(context_.observer, kService, "NodeGetCapabilities", "", [&]() -> Status {
    using Rpc = pb::NodeServiceCapability::RPC;
    for (auto type : {Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS, Rpc::EXPAND_VOLUME,
                      Rpc::VOLUME_CONDITION, Rpc::SINGLE_NODE_MULTI_WRITER}) {
      response->add_capabilities()->mutable_rpc()->set_type(type);
    }
    return absl::OkStatus();
  });
}

grpc::Status NodeService::NodeGetInfo(Ctx*, const pb::NodeGetInfoRequest*,
                                      pb::NodeGetInfoResponse* response) {
  return Serve(context_.observer, kService, "NodeGetInfo", "", [&]() -> Status {
    response->set_node_id(context_.options.node_id);
    (*response->mutable_accessible_topology()->mutable_segments())[kTopologyKey] =
        context_.options.node_id;
    return absl::OkStatus();
  });
}

// ---- helpers ----

StatusOr<catalog::VolumeRecord> NodeService::FindVolume(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(
        fmt::format("volume {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  return context_.pool.GetVolume(id);
}

StatusOr<std::vector<std::string>> NodeService::LoopsOf(const std::string& volume_id) {
  std::string image = context_.pool.VolumePath(volume_id);
  // The kernel reports the path it resolved at attach time.
  auto real = context_.host.RealPath(image);
  ASSIGN_OR_RETURN(auto loops, context_.host.ListLoops());
  std::vector<std::string> out;
  for (const auto& loop : loops) {
    if (loop.backing_file == image || (real.ok() && loop.backing_file == *real)) {
      out.push_back(loop.device);
    }
  }
  return out;
}

StatusOr<std::optional<host::MountEntry>> NodeService::MountAt(const std::string& path) {
  ASSIGN_OR_RETURN(auto mounts, context_.host.ListMounts());
  std::optional<host::MountEntry> top;
  for (auto& mount : mounts) {
    if (mount.target == path) top = std::move(mount);  // later entries are on top
  }
  return top;
}

StatusOr<host::CommandResult> NodeService::RunTool(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(auto result, context_.host.Run(argv));
  if (result.exit_code != 0) {
    std::string command;
    for (const auto& arg : argv) command += (command.empty() ? "" : " ") + arg;
    std::string err = Trim(result.stderr_text);
    if (err.empty()) err = Trim(result.stdout_text);
    return absl::InternalError(
        fmt::format("`{}` failed with exit code {}: {}", command, result.exit_code, err));
  }
  return result;
}

StatusOr<std::string> NodeService::ProbeFilesystem(const std::string& device) {
  // -p reads the device itself (no cache); exit code 2 means nothing found.
  ASSIGN_OR_RETURN(auto result, context_.host.Run({"blkid", "-p", "-o", "export", device}));
  if (result.exit_code == 2) return std::string();
  if (result.exit_code != 0) {
    return absl::InternalError(
        fmt::format("`blkid -p {}` failed with exit code {} (ambivalent or unreadable content; not "
                    "formatting it): {}",
                    device, result.exit_code, Trim(result.stderr_text)));
  }
  std::string type;
  std::string other;
  size_t start = 0;
  const std::string& text = result.stdout_text;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("TYPE=", 0) == 0) type = line.substr(5);
    if (line.rfind("PTTYPE=", 0) == 0) other = line;
  }
  if (type.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("{} holds data that is not a filesystem ({}); refusing to format it", device,
                    other.empty() ? Trim(text) : other));
  }
  return type;
}

Status NodeService::ExplainFullPool(const Status& failed,
                                    const catalog::VolumeRecord& volume) {
  // A thin volume's writes (mkfs's metadata included) fail with EIO on the
  // loop device once the pool's filesystem is full: say that, not just EIO.
  auto status = context_.pool.GetStatus();
  if (!status.ok() || status->free_bytes >= static_cast<uint64_t>(volume.capacity_bytes)) {
    return failed;
  }
  return absl::ResourceExhaustedError(fmt::format(
      "cannot write to volume {}: the pool has {} bytes free, less than the volume's {} bytes, "
      "and writes into thin volumes fail once it is full; free space in the pool (delete "
      "volumes or snapshots) or grow it, then retry ({})",
      volume.id, status->free_bytes, volume.capacity_bytes, std::string(failed.message())));
}

Status NodeService::Format(const std::string& device, const std::string& fs_type) {
  // Only ever called when blkid found nothing on the device, so no -F/-f:
  // the tools' own checks stay a second guard against formatting data.
  // 4 KiB sectors/blocks whatever the loop device reports now: its logical
  // block size follows the image's direct-I/O alignment, which becomes 4 KiB
  // once the image shares extents (after a clone or snapshot), and a
  // filesystem with smaller sectors would not mount there any more.
  if (fs_type == "xfs") {
    RETURN_IF_ERROR(RunTool({"mkfs.xfs", "-q", "-K", "-s", "size=4096", device}).status());
  } else {
    RETURN_IF_ERROR(RunTool({"mkfs.ext4", "-q", "-b", "4096", "-E", "nodiscard", device}).status());
  }
  spdlog::info("formatted {} as {}", device, fs_type);
  return absl::OkStatus();
}

Status NodeService::GrowFilesystem(const std::string& device, const std::string& mount_point,
                                   const std::string& fs_type) {
  // Both tools grow a mounted filesystem to the device's size and succeed
  // without change when it already fills the device. Online ext4 growth needs
  // CAP_SYS_RESOURCE; xfs_growfs needs CAP_SYS_ADMIN.
  if (fs_type == "xfs") return RunTool({"xfs_growfs", mount_point}).status();
  if (fs_type == "ext4") return RunTool({"resize2fs", device}).status();
  return absl::FailedPreconditionError(
      fmt::format("cannot grow a {} filesystem; ditto grows ext4 and xfs", fs_type));
}

StatusOr<bool> NodeService::GrowExt4Offline(const std::string& device) {
  ASSIGN_OR_RETURN(uint64_t device_bytes, context_.host.BlockDeviceSize(device));
  ASSIGN_OR_RETURN(auto super, RunTool({"dumpe2fs", "-h", device}));
  uint64_t blocks = 0;
  uint64_t block_size = 0;
  size_t start = 0;
  const std::string& text = super.stdout_text;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    uint64_t value = std::strtoull(line.c_str() + colon + 1, nullptr, 10);
    if (key == "Block count") blocks = value;
    if (key == "Block size") block_size = value;
  }
  if (blocks == 0 || block_size == 0) {
    return absl::InternalError(
        fmt::format("`dumpe2fs -h {}` did not report the block count and size", device));
  }
  if (device_bytes < (blocks + 1) * block_size) return false;  // fills the device already
  // resize2fs wants a freshly checked filesystem; -p repairs only what is
  // safe (and replays the journal of a clone taken from a frozen mount).
  ASSIGN_OR_RETURN(auto check, context_.host.Run({"e2fsck", "-f", "-p", device}));
  if (check.exit_code > 2) {
    return absl::FailedPreconditionError(fmt::format(
        "`e2fsck -f -p {}` found problems it cannot fix safely (exit code {}); repair the "
        "volume by hand before growing it: {}",
        device, check.exit_code, Trim(check.stdout_text + check.stderr_text)));
  }
  RETURN_IF_ERROR(RunTool({"resize2fs", device}).status());
  spdlog::info("grew the ext4 filesystem on {} from {} to {} bytes", device, blocks * block_size,
               device_bytes);
  return true;
}

Status NodeService::MountFilesystem(const std::string& device, const std::string& target,
                                    const std::string& fs_type,
                                    const std::vector<std::string>& flags, bool read_only) {
  MountFlags split = SplitMountFlags(flags);
  read_only = read_only || split.read_only;
  if (fs_type == "xfs") {
    // A clone carries its source's filesystem UUID; XFS refuses a second
    // mount of one UUID without this.
    split.data += split.data.empty() ? "nouuid" : ",nouuid";
  }
  if (split.vfs.empty()) {
    host::MountOptions options;
    options.read_only = read_only;
    options.data = split.data;
    return context_.host.Mount(device, target, fs_type, options);
  }
  // Per-mount flags are MS_* bits that Host::Mount's data string cannot
  // carry; mount(8) maps them. The flags were allowlisted by validation.
  std::string options = read_only ? "ro" : "rw";
  for (const auto& flag : split.vfs) options += "," + flag;
  if (!split.data.empty()) options += "," + split.data;
  return RunTool({"mount", "-t", fs_type, "-o", options, device, target}).status();
}

StatusOr<bool> NodeService::IsVolumePath(const std::string& volume_id, const std::string& path) {
  ASSIGN_OR_RETURN(auto stage, context_.pool.catalog().FindStage(volume_id));
  if (stage && stage->staging_path == path) return true;
  ASSIGN_OR_RETURN(auto publishes, context_.pool.catalog().ListPublishes(volume_id));
  for (const auto& publish : publishes) {
    if (publish.target_path == path) return true;
  }
  return false;
}

Status NodeService::Reconcile() {
  ASSIGN_OR_RETURN(auto stages, context_.pool.catalog().ListStages());
  for (auto& stage : stages) {
    ASSIGN_OR_RETURN(auto loops, LoopsOf(stage.volume_id));
    if (loops.empty()) {
      spdlog::warn(
          "volume {} is recorded as staged at {} but no loop device backs it now; the "
          "next NodeStageVolume attaches it again",
          stage.volume_id, stage.staging_path);
      continue;
    }
    if (std::find(loops.begin(), loops.end(), stage.device) == loops.end()) {
      spdlog::info("volume {} is now on {} (was {})", stage.volume_id, loops.front(), stage.device);
      stage.device = loops.front();
      RETURN_IF_ERROR(context_.pool.catalog().PutStage(stage));
    }
    // A filesystem a crash left frozen was thawed when the pool was opened
    // (pool/freezer.h).
  }
  return absl::OkStatus();
}

// ---- stage / unstage ----

Status NodeService::DoStage(const pb::NodeStageVolumeRequest& request) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& staging = request.staging_target_path();
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (!request.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  ASSIGN_OR_RETURN(Capability capability,
                   ParseCapability(request.volume_capability(), "volume_capability"));
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  RETURN_IF_ERROR(CheckNodeCapability(capability, volume));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));

  std::string fs_type;
  if (!capability.block) {
    fs_type = !capability.fs_type.empty() ? capability.fs_type
              : !volume.fs_type.empty()   ? volume.fs_type
                                          : std::string(kDefaultFsType);
  }
  std::string flags = JoinFlags(capability.mount_flags);
  std::string mode = AccessModeName(capability.mode);
  auto& catalog = context_.pool.catalog();

  ASSIGN_OR_RETURN(auto existing, catalog.FindStage(volume.id));
  if (existing) {
    if (existing->staging_path != staging) {
      return absl::AlreadyExistsError(fmt::format(
          "volume {} is already staged at {}; unstage it there first (one staging path per "
          "volume)",
          volume.id, existing->staging_path));
    }
    if (existing->block != capability.block || existing->fs_type != fs_type ||
        existing->mount_flags != flags || existing->access_mode != mode) {
      return absl::AlreadyExistsError(fmt::format(
          "volume {} is already staged at {} with another capability ({} {} {}); unstage it "
          "first to change how it is staged",
          volume.id, staging, existing->block ? "block" : "mount " + existing->fs_type,
          existing->access_mode, existing->mount_flags.empty() ? "" : "with mount flags"));
    }
  }

  // Find or attach the loop device (a previous attempt or a restart may have
  // left one).
  ASSIGN_OR_RETURN(auto loops, LoopsOf(volume.id));
  std::string device;
  bool attached_now = false;
  if (!loops.empty()) {
    device = loops.front();
  } else {
    ASSIGN_OR_RETURN(device, context_.host.AttachLoop(context_.pool.VolumePath(volume.id),
                                                      /*direct_io=*/true, /*read_only=*/false));
    attached_now = true;
  }
  RETURN_IF_ERROR(Failpoint("node.stage.after_attach"));
  bool mounted_now = false;
  auto undo = [&](Status status) {
    // Leave nothing behind that this call made.
    if (mounted_now) (void)context_.host.Unmount(staging);
    if (attached_now) (void)context_.host.DetachLoop(device);
    return status;
  };

  if (!capability.block) {
    auto found = ProbeFilesystem(device);
    if (!found.ok()) return undo(found.status());
    bool formatted = false;
    if (found->empty()) {
      Status made = Format(device, fs_type);
      if (!made.ok()) return undo(ExplainFullPool(made, volume));
      formatted = true;
      RETURN_IF_ERROR(Failpoint("node.stage.after_format"));
    } else if (*found != fs_type) {
      return undo(absl::FailedPreconditionError(fmt::format(
          "volume {} holds a {} filesystem, not {}; it is never reformatted (ask for {})",
          volume.id, *found, fs_type, *found)));
    }
    Status made = RequireNoSymlinks(context_.host, staging, "staging_target_path");
    if (made.ok()) made = context_.host.MakeDirectories(staging, 0750);
    if (!made.ok()) return undo(made);
    auto current = MountAt(staging);
    if (!current.ok()) return undo(current.status());
    if (*current && (*current)->source != device) {
      return undo(absl::FailedPreconditionError(
          fmt::format("{} is already a mount point of {}; volume {} cannot be staged there",
                      staging, (*current)->source, volume.id)));
    }
    bool read_only =
        IsReadOnlyMode(capability.mode) || SplitMountFlags(capability.mount_flags).read_only;
    // A volume made larger than its source (or expanded while unstaged) has a
    // device larger than its filesystem: ext4 grows before it is mounted
    // (offline growth needs no CAP_SYS_RESOURCE), xfs after (it can only
    // grow mounted).
    if (!*current && !formatted && !read_only && fs_type == "ext4") {
      auto grown = GrowExt4Offline(device);
      if (!grown.ok()) return undo(grown.status());
    }
    if (!*current) {
      Status mounted = MountFilesystem(device, staging, fs_type, capability.mount_flags, read_only);
      if (!mounted.ok()) return undo(mounted);
      mounted_now = true;
    }
    if (!formatted && !read_only && fs_type == "xfs") {
      Status grown = GrowFilesystem(device, staging, fs_type);
      if (!grown.ok()) return undo(grown);
    }
  }

  catalog::StageRecord record;
  record.volume_id = volume.id;
  record.staging_path = staging;
  record.device = device;
  record.block = capability.block;
  record.fs_type = fs_type;
  record.mount_flags = flags;
  record.access_mode = mode;
  record.created_at_ns = existing ? existing->created_at_ns : NowNanos();
  Status put = catalog.PutStage(record);
  if (!put.ok()) return undo(put);
  RETURN_IF_ERROR(Failpoint("node.stage.after_mount"));
  return absl::OkStatus();
}

Status NodeService::DoUnstage(const pb::NodeUnstageVolumeRequest& request) {
  const std::string& id = request.volume_id();
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& staging = request.staging_target_path();
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(
        fmt::format("volume {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + id}));
  auto& catalog = context_.pool.catalog();
  ASSIGN_OR_RETURN(auto stage, catalog.FindStage(id));
  if (!stage) {
    // Unknown to the catalog: NOT_FOUND unless the volume exists, in which
    // case it is simply not staged (idempotent) — but clean up what a crash
    // between mount and record may have left.
    RETURN_IF_ERROR(context_.pool.GetVolume(id).status());
  } else if (stage->staging_path != staging) {
    return absl::OkStatus();  // not staged at this path
  }

  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(id));
  for (const auto& publish : publishes) {
    ASSIGN_OR_RETURN(auto mount, MountAt(publish.target_path));
    if (mount) {
      return absl::FailedPreconditionError(
          fmt::format("volume {} is still published at {}; NodeUnpublishVolume it first", id,
                      publish.target_path));
    }
  }
  ASSIGN_OR_RETURN(auto loops, LoopsOf(id));
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    ASSIGN_OR_RETURN(auto mount, MountAt(staging));
    if (!mount) break;
    bool ours = (stage && !stage->block) ||
                std::find(loops.begin(), loops.end(), mount->source) != loops.end();
    if (!ours) break;
    Status unmounted = context_.host.Unmount(staging);
    if (!unmounted.ok() && !absl::IsNotFound(unmounted)) return unmounted;
  }
  RETURN_IF_ERROR(Failpoint("node.unstage.after_unmount"));
  for (const auto& device : loops) {
    Status detached = context_.host.DetachLoop(device);
    if (!detached.ok() && !absl::IsNotFound(detached)) return detached;
  }
  RETURN_IF_ERROR(Failpoint("node.unstage.after_detach"));
  for (const auto& publish : publishes) {
    RETURN_IF_ERROR(catalog.DeletePublish(id, publish.target_path));
  }
  return catalog.DeleteStage(id);
}

// ---- publish / unpublish ----

Status NodeService::DoPublish(const pb::NodePublishVolumeRequest& request) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& target = request.target_path();
  RETURN_IF_ERROR(ValidateNodePath(target, "target_path"));
  if (!request.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  ASSIGN_OR_RETURN(Capability capability,
                   ParseCapability(request.volume_capability(), "volume_capability"));
  const std::string& staging = request.staging_target_path();
  if (staging.empty()) {
    return absl::FailedPreconditionError(
        "staging_target_path is required: the driver stages volumes (STAGE_UNSTAGE_VOLUME); "
        "call NodeStageVolume first and pass its path");
  }
  RETURN_IF_ERROR(ValidateNodePath(staging, "staging_target_path"));
  if (staging == target) {
    return absl::InvalidArgumentError("target_path must differ from staging_target_path");
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  RETURN_IF_ERROR(CheckNodeCapability(capability, volume));
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  auto& catalog = context_.pool.catalog();

  ASSIGN_OR_RETURN(auto stage, catalog.FindStage(volume.id));
  if (!stage || stage->staging_path != staging) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is not staged at {}; call NodeStageVolume with that path first",
                    volume.id, staging));
  }
  if (stage->block != capability.block) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is staged as a {} volume; publish it the same way", volume.id,
                    stage->block ? "block" : "mount"));
  }
  bool read_only = request.readonly() || IsReadOnlyMode(capability.mode);

  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(volume.id));
  for (const auto& publish : publishes) {
    ASSIGN_OR_RETURN(auto mount, MountAt(publish.target_path));
    if (publish.target_path == target) {
      if (publish.read_only != request.readonly() || publish.block != capability.block) {
        return absl::AlreadyExistsError(fmt::format(
            "volume {} is already published at {} with readonly={} as {}; unpublish it first",
            volume.id, target, publish.read_only, publish.block ? "block" : "mount"));
      }
      if (mount) return absl::OkStatus();  // idempotent repeat
      continue;                            // recorded but gone: publish again
    }
    if (mount && !AllowsSeveralPublishTargets(capability.mode)) {
      return absl::FailedPreconditionError(fmt::format(
          "volume {} is already published at {} and access mode {} allows one target; use "
          "SINGLE_NODE_MULTI_WRITER for several",
          volume.id, publish.target_path, AccessModeName(capability.mode)));
    }
  }

  ASSIGN_OR_RETURN(auto current, MountAt(target));
  if (!current) {
    host::MountOptions options;
    options.bind = true;
    options.read_only = read_only;
    RETURN_IF_ERROR(RequireNoSymlinks(context_.host, target, "target_path"));
    if (capability.block) {
      RETURN_IF_ERROR(context_.host.MakeDirectories(ParentOf(target), 0750));
      RETURN_IF_ERROR(context_.host.Touch(target));
      RETURN_IF_ERROR(context_.host.Mount(stage->device, target, "", options));
    } else {
      RETURN_IF_ERROR(context_.host.MakeDirectories(target, 0750));
      RETURN_IF_ERROR(context_.host.Mount(staging, target, "", options));
    }
  }
  catalog::PublishRecord record;
  record.volume_id = volume.id;
  record.target_path = target;
  record.read_only = request.readonly();
  record.block = capability.block;
  record.created_at_ns = NowNanos();
  RETURN_IF_ERROR(catalog.PutPublish(record));
  return Failpoint("node.publish.after_mount");
}

Status NodeService::DoUnpublish(const pb::NodeUnpublishVolumeRequest& request) {
  const std::string& id = request.volume_id();
  if (id.empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& target = request.target_path();
  RETURN_IF_ERROR(ValidateNodePath(target, "target_path"));
  if (!IsValidVolumeId(id)) {
    return absl::NotFoundError(
        fmt::format("volume {} does not exist (not an ID this driver made)", id.substr(0, 128)));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + id}));
  auto& catalog = context_.pool.catalog();
  ASSIGN_OR_RETURN(auto publishes, catalog.ListPublishes(id));
  bool recorded = std::any_of(publishes.begin(), publishes.end(),
                              [&](const auto& p) { return p.target_path == target; });
  if (!recorded) {
    RETURN_IF_ERROR(context_.pool.GetVolume(id).status());
    // Not published here. Never unmount what this driver did not publish.
    return absl::OkStatus();
  }
  for (int i = 0; i < kMaxStackedMounts; ++i) {
    ASSIGN_OR_RETURN(auto mount, MountAt(target));
    if (!mount) break;
    Status unmounted = context_.host.Unmount(target);
    if (!unmounted.ok() && !absl::IsNotFound(unmounted)) return unmounted;
  }
  RETURN_IF_ERROR(Failpoint("node.unpublish.after_unmount"));
  // The spec has the plugin delete the file or directory it created. A
  // directory that still holds files was there before the publish: keep it.
  auto info = context_.host.Stat(target);
  bool keep = false;
  if (info.ok() && info->is_directory) {
    ASSIGN_OR_RETURN(auto entries, context_.host.ListDirectory(target));
    keep = !entries.empty();
  }
  Status removed = keep ? absl::OkStatus() : context_.host.Remove(target);
  if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
  return catalog.DeletePublish(id, target);
}

// ---- stats / expand ----

Status NodeService::DoGetVolumeStats(const pb::NodeGetVolumeStatsRequest& request,
                                     pb::NodeGetVolumeStatsResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& path = request.volume_path();
  RETURN_IF_ERROR(ValidateLookupPath(path, "volume_path"));
  if (!request.staging_target_path().empty()) {
    RETURN_IF_ERROR(ValidateLookupPath(request.staging_target_path(), "staging_target_path"));
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  auto info = context_.host.Stat(path);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(fmt::format("volume_path {} does not exist", path));
  }
  RETURN_IF_ERROR(info.status());
  ASSIGN_OR_RETURN(bool ours, IsVolumePath(volume.id, path));
  ASSIGN_OR_RETURN(auto stage, context_.pool.catalog().FindStage(volume.id));
  if (!ours || !stage) {
    return absl::NotFoundError(
        fmt::format("volume {} is not staged or published at {}", volume.id, path));
  }

  pb::VolumeCondition* condition = response->mutable_volume_condition();
  condition->set_abnormal(false);
  condition->set_message("the volume is attached and mounted");
  ASSIGN_OR_RETURN(auto loops, LoopsOf(volume.id));
  auto image = context_.host.Stat(context_.pool.VolumePath(volume.id));
  if (!image.ok()) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("the volume's image is missing: {}", std::string(image.status().message())));
  } else if (std::find(loops.begin(), loops.end(), stage->device) == loops.end()) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("loop device {} no longer backs the volume's image; unstage and stage it again",
                    stage->device));
  }

  if (stage->block) {
    auto size = context_.host.BlockDeviceSize(stage->device);
    if (!size.ok()) {
      condition->set_abnormal(true);
      condition->set_message(fmt::format("cannot read the size of {}: {}", stage->device,
                                         std::string(size.status().message())));
      return absl::OkStatus();
    }
    auto* usage = response->add_usage();
    usage->set_unit(pb::VolumeUsage::BYTES);
    usage->set_total(static_cast<int64_t>(*size));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto mount, MountAt(path));
  if (!mount) {
    condition->set_abnormal(true);
    condition->set_message(
        fmt::format("nothing is mounted at {}; the volume is not available there", path));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto fs, context_.host.StatFilesystem(path));
  auto* bytes = response->add_usage();
  bytes->set_unit(pb::VolumeUsage::BYTES);
  bytes->set_total(static_cast<int64_t>(fs.capacity_bytes));
  bytes->set_available(static_cast<int64_t>(fs.available_bytes));
  bytes->set_used(
      static_cast<int64_t>(fs.capacity_bytes - std::min(fs.capacity_bytes, fs.free_bytes)));
  auto* inodes = response->add_usage();
  inodes->set_unit(pb::VolumeUsage::INODES);
  inodes->set_total(static_cast<int64_t>(fs.total_inodes));
  inodes->set_available(static_cast<int64_t>(fs.free_inodes));
  inodes->set_used(
      static_cast<int64_t>(fs.total_inodes - std::min(fs.total_inodes, fs.free_inodes)));
  return absl::OkStatus();
}

Status NodeService::DoExpand(const pb::NodeExpandVolumeRequest& request,
                             pb::NodeExpandVolumeResponse* response) {
  if (request.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  const std::string& path = request.volume_path();
  RETURN_IF_ERROR(ValidateLookupPath(path, "volume_path"));
  if (!request.staging_target_path().empty()) {
    RETURN_IF_ERROR(ValidateLookupPath(request.staging_target_path(), "staging_target_path"));
  }
  if (request.has_capacity_range()) {
    RETURN_IF_ERROR(ValidateCapacityRange(request.capacity_range(), "capacity_range"));
  }
  std::optional<Capability> capability;
  if (request.has_volume_capability()) {
    ASSIGN_OR_RETURN(capability, ParseCapability(request.volume_capability(), "volume_capability"));
  }
  ASSIGN_OR_RETURN(auto volume, FindVolume(request.volume_id()));
  if (capability) {
    Status usable = CheckNodeCapability(*capability, volume);
    if (!usable.ok()) return absl::InvalidArgumentError(std::string(usable.message()));
  }
  ASSIGN_OR_RETURN(auto hold, context_.locks.TryAcquire({"vol:" + volume.id}));
  ASSIGN_OR_RETURN(auto stage, context_.pool.catalog().FindStage(volume.id));
  ASSIGN_OR_RETURN(bool ours, IsVolumePath(volume.id, path));
  if (!stage || !ours) {
    return absl::NotFoundError(fmt::format(
        "volume {} is not staged or published at {}; NodeExpandVolume works on a staged volume",
        volume.id, path));
  }
  if (capability && capability->block != stage->block) {
    return absl::InvalidArgumentError(fmt::format("volume {} is staged as a {} volume", volume.id,
                                                  stage->block ? "block" : "mount"));
  }
  uint64_t required = request.has_capacity_range()
                          ? static_cast<uint64_t>(request.capacity_range().required_bytes())
                          : 0;
  if (required > static_cast<uint64_t>(volume.capacity_bytes)) {
    return absl::OutOfRangeError(fmt::format(
        "volume {} is {} bytes, less than the {} asked for; ControllerExpandVolume it first",
        volume.id, volume.capacity_bytes, required));
  }
  int64_t limit = request.has_capacity_range() ? request.capacity_range().limit_bytes() : 0;
  if (limit > 0 && volume.capacity_bytes > limit) {
    return absl::OutOfRangeError(fmt::format(
        "volume {} is already {} bytes, more than the limit of {} asked for; a volume never "
        "shrinks, ask for a limit of at least its size",
        volume.id, volume.capacity_bytes, limit));
  }
  RETURN_IF_ERROR(context_.host.RefreshLoopCapacity(stage->device));
  if (!stage->block) {
    ASSIGN_OR_RETURN(auto mount, MountAt(stage->staging_path));
    if (!mount) {
      return absl::FailedPreconditionError(
          fmt::format("volume {} is not mounted at its staging path {}; stage it again", volume.id,
                      stage->staging_path));
    }
    bool published = false;
    ASSIGN_OR_RETURN(auto publishes, context_.pool.catalog().ListPublishes(volume.id));
    for (const auto& publish : publishes) {
      ASSIGN_OR_RETURN(auto target, MountAt(publish.target_path));
      published = published || target.has_value();
    }
    if (stage->fs_type == "ext4" && !published) {
      // Nothing uses the filesystem but the staging mount: grow it offline,
      // which needs no CAP_SYS_RESOURCE (online ext4 growth does).
      RETURN_IF_ERROR(context_.host.Unmount(stage->staging_path));
      auto grown = GrowExt4Offline(stage->device);
      AccessMode mode = pb::VolumeCapability::AccessMode::UNKNOWN;
      pb::VolumeCapability::AccessMode::Mode_Parse(stage->access_mode, &mode);
      std::vector<std::string> flags;
      for (size_t start = 0; start < stage->mount_flags.size();) {
        size_t comma = stage->mount_flags.find(',', start);
        if (comma == std::string::npos) comma = stage->mount_flags.size();
        flags.push_back(stage->mount_flags.substr(start, comma - start));
        start = comma + 1;
      }
      Status mounted = MountFilesystem(stage->device, stage->staging_path, stage->fs_type, flags,
                                       IsReadOnlyMode(mode));
      RETURN_IF_ERROR(grown.status());
      RETURN_IF_ERROR(mounted);
    } else {
      Status grown = GrowFilesystem(stage->device, stage->staging_path, stage->fs_type);
      if (!grown.ok() && stage->fs_type == "ext4" &&
          std::string(grown.message()).find("Permission denied") != std::string::npos) {
        return absl::FailedPreconditionError(fmt::format(
            "{}; growing a mounted ext4 filesystem needs CAP_SYS_RESOURCE: run dittod with it, "
            "or expand while the volume is not published (it is then grown offline)",
            std::string(grown.message())));
      }
      RETURN_IF_ERROR(grown);
    }
  }
  ASSIGN_OR_RETURN(uint64_t size, context_.host.BlockDeviceSize(stage->device));
  response->set_capacity_bytes(static_cast<int64_t>(size));
  return absl::OkStatus();
}

}  // namespace ditto::csi
