#include "pool/own_filesystem.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "pool/layout.h"
#include "pool/path.h"
#include "pool/pool.h"
#include "spdlog/spdlog.h"

namespace ditto::pool {
namespace {

constexpr uint64_t kMinimumBackingBytes = 320ull << 20;  // mkfs.xfs refuses smaller

StatusOr<std::string> RunOrFail(host::Host& host, const std::vector<std::string>& argv,
                                std::string_view what) {
  ASSIGN_OR_RETURN(auto result, host.Run(argv));
  if (result.exit_code != 0) {
    return absl::InternalError(fmt::format("{} failed ({} exited {}): {}", what, argv[0],
                                           result.exit_code,
                                           std::string(absl::StripAsciiWhitespace(result.stderr_text))));
  }
  return std::string(absl::StripAsciiWhitespace(result.stdout_text));
}

std::vector<std::string> MkfsArgv(const std::string& fs_type, const std::string& target) {
  if (fs_type == "btrfs") return {"mkfs.btrfs", "-q", "-f", "-L", "ditto-pool", target};
  return {"mkfs.xfs", "-q", "-f", "-m", "reflink=1", "-L", "ditto-pool", target};
}

// FailedPrecondition when `device` is mounted, or holds a filesystem or a
// partition table (unless `force`).
Status CheckDeviceIsFree(host::Host& host, const std::string& device, bool force) {
  auto info = host.Stat(device);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(fmt::format("device {} does not exist; name a disk or partition "
                                           "(see lsblk)", device));
  }
  RETURN_IF_ERROR(info.status());
  if (!info->is_block_device) {
    return absl::InvalidArgumentError(fmt::format(
        "{} is not a block device; --device takes a whole disk or partition such as /dev/sdb "
        "(for a pool in a file, leave --device out)",
        device));
  }
  ASSIGN_OR_RETURN(auto mounts, host.ListMounts());
  for (const auto& mount : mounts) {
    if (mount.source == device) {
      return absl::FailedPreconditionError(fmt::format(
          "device {} is mounted at {}; unmount it first (ditto formats the device)", device,
          mount.target));
    }
  }
  // blkid exits 2 when it finds nothing on the device.
  ASSIGN_OR_RETURN(auto probe, host.Run({"blkid", "-p", "-o", "export", device}));
  if (probe.exit_code == 2) return absl::OkStatus();
  if (probe.exit_code != 0) {
    return absl::InternalError(fmt::format("cannot probe {} with blkid (exit {}): {}", device,
                                           probe.exit_code, probe.stderr_text));
  }
  std::string found;
  std::vector<std::string> lines = absl::StrSplit(probe.stdout_text, '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    for (std::string_view key : {"TYPE=", "PTTYPE="}) {
      if (line.starts_with(key)) {
        found += fmt::format("{}{} {}", found.empty() ? "" : ", ",
                             key == "TYPE=" ? "a filesystem" : "a partition table",
                             line.substr(std::string_view(key).size()));
      }
    }
  }
  if (found.empty()) return absl::OkStatus();
  if (force) {
    spdlog::warn("--force: formatting {}, which holds {}", device, found);
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(fmt::format(
      "device {} holds {}; ditto would erase it: pass --force to format it anyway, or choose an "
      "empty device",
      device, found));
}

}  // namespace

Status MakeOwnFilesystem(host::Host& host, PoolLayout& layout, bool force) {
  if (!layout.device.empty()) {
    RETURN_IF_ERROR(CheckDeviceIsFree(host, layout.device, force));
    RETURN_IF_ERROR(RunOrFail(host, MkfsArgv(layout.backing_fs, layout.device),
                              fmt::format("formatting {} as {}", layout.device, layout.backing_fs))
                        .status());
    ASSIGN_OR_RETURN(layout.device_uuid,
                     RunOrFail(host, {"blkid", "-p", "-s", "UUID", "-o", "value", layout.device},
                               fmt::format("reading the filesystem UUID of {}", layout.device)));
    if (layout.device_uuid.empty()) {
      return absl::InternalError(
          fmt::format("{} has no filesystem UUID after mkfs; check the device", layout.device));
    }
    return MountOwnFilesystem(host, layout);
  }
  std::string backing = JoinPath(layout.dir, kBackingFileName);
  if (layout.backing_size_bytes < kMinimumBackingBytes) {
    return absl::InvalidArgumentError(fmt::format(
        "pool size {} bytes is too small for a {} backing file; use at least 320Mi",
        layout.backing_size_bytes, layout.backing_fs));
  }
  // A backing file without pool.json is what an interrupted init left.
  if (host.Stat(backing).ok()) RETURN_IF_ERROR(host.Remove(backing));
  RETURN_IF_ERROR(host.CreateSparseFile(backing, layout.backing_size_bytes));
  RETURN_IF_ERROR(RunOrFail(host, MkfsArgv(layout.backing_fs, backing),
                            fmt::format("formatting {} as {}", backing, layout.backing_fs))
                      .status());
  return MountOwnFilesystem(host, layout);
}

Status MountOwnFilesystem(host::Host& host, const PoolLayout& layout) {
  ASSIGN_OR_RETURN(auto mounts, host.ListMounts());
  for (const auto& mount : mounts) {
    if (mount.target == layout.data_dir) return absl::OkStatus();
  }
  RETURN_IF_ERROR(host.MakeDirectories(layout.data_dir, 0700));
  std::string device, what;
  bool attached_here = false;
  if (!layout.device_uuid.empty()) {
    what = fmt::format("device {} (filesystem UUID {})", layout.device, layout.device_uuid);
    // Every device probed afresh (no cache, and not `-U`, which may answer
    // a name that another disk has taken since the pool's was detached).
    auto found = RunOrFail(host,
                           {"blkid", "--cache-file", "/dev/null", "-t",
                            "UUID=" + layout.device_uuid, "-o", "device"},
                           fmt::format("finding the pool's {}", what));
    if (!found.ok() || found->empty()) {
      return absl::FailedPreconditionError(fmt::format(
          "the pool's {} is not attached to this machine; attach the disk, then retry", what));
    }
    std::vector<std::string> devices = absl::StrSplit(*found, '\n', absl::SkipWhitespace());
    if (devices.size() > 1) {
      return absl::FailedPreconditionError(fmt::format(
          "the pool's filesystem UUID {} is on {} devices ({}): a copy of the pool's disk is "
          "attached too; detach the one that is not the pool's, then retry",
          layout.device_uuid, devices.size(), absl::StrJoin(devices, ", ")));
    }
    device = devices.front();
  } else {
    std::string backing = JoinPath(layout.dir, kBackingFileName);
    what = fmt::format("backing file {}", backing);
    ASSIGN_OR_RETURN(auto loops, host.ListLoops());
    for (const auto& loop : loops) {
      if (loop.backing_file == backing) device = loop.device;
    }
    if (device.empty()) {
      ASSIGN_OR_RETURN(device, host.AttachLoop(backing, /*direct_io=*/false, /*read_only=*/false));
      attached_here = true;
    }
  }
  Status mounted = host.Mount(device, layout.data_dir, layout.backing_fs, {});
  if (!mounted.ok()) {
    if (attached_here) (void)host.DetachLoop(device);
    return absl::Status(mounted.code(), fmt::format("cannot mount the pool's {} at {}: {}", what,
                                                    layout.data_dir, std::string(mounted.message())));
  }
  // mkfs makes the root of the new filesystem 0755: the pool's data is the
  // owner's alone, like every directory of the pool.
  RETURN_IF_ERROR(host.SetMode(layout.data_dir, 0700));
  spdlog::info("mounted the pool's {} ({}) at {}", what, device, layout.data_dir);
  return absl::OkStatus();
}

}  // namespace ditto::pool
