// NodeService: the gRPC entry points, capabilities and info, and the helpers
// the RPC families share (tools, filesystems, mounts, restart reconciliation).
// The RPCs themselves: node_stage.cc, node_publish.cc, node_stats_expand.cc.
#include "csi/node/node_service.h"

#include <algorithm>

#include "common/clock.h"
#include "common/failpoint.h"
#include "common/ids.h"
#include "csi/node/node_checks.h"
#include "csi/serve.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace ditto::csi {
namespace {

constexpr char kService[] = "Node";

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
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
  auto free_bytes = context_.pool.FreeBytes();
  if (!free_bytes.ok() || *free_bytes >= static_cast<uint64_t>(volume.capacity_bytes)) {
    return failed;
  }
  return absl::ResourceExhaustedError(fmt::format(
      "cannot write to volume {}: the pool has {} bytes free, less than the volume's {} bytes, "
      "and writes into thin volumes fail once it is full; free space in the pool (delete "
      "volumes or snapshots) or grow it, then retry ({})",
      volume.id, *free_bytes, volume.capacity_bytes, std::string(failed.message())));
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

}  // namespace ditto::csi
