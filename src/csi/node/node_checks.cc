#include "csi/node/node_checks.h"

#include "fmt/format.h"

namespace ditto::csi {

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

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

}  // namespace ditto::csi
