// FakeHost: mounts, in memory.
#include "host/fake_host.h"

#include <algorithm>

#include "fmt/format.h"
#include "host/fake/fake_paths.h"

namespace ditto::host {

using internal::BlocksFor;
using internal::ChildPrefix;
using internal::IsUnder;
using internal::kFakeDevice;
using internal::kFakeTotalInodes;
using internal::kLoopMajor;
using internal::LoopIndex;
using internal::Normalize;
using internal::ParentOf;

Status FakeHost::Mount(const std::string& source, const std::string& target,
                       const std::string& fs_type, const MountOptions& options) {
  RETURN_IF_ERROR(Injected("Mount", {source, target}));
  ASSIGN_OR_RETURN(std::string t, Normalize(target, "mount"));
  std::lock_guard lock(mutex_);
  std::string op = fmt::format("mount {} on", source);
  RETURN_IF_ERROR(Find(t, op).status());
  std::string mode = options.read_only ? "ro" : "rw";
  if (options.remount) {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
      if (it->target != t) continue;
      it->options = options.data.empty() ? mode : mode + "," + options.data;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        fmt::format("remount {}: Invalid argument (nothing is mounted there)", t));
  }
  MountEntry entry;
  entry.source = source;
  entry.target = t;
  entry.fs_type = fs_type.empty() ? filesystem_type_ : fs_type;
  entry.options = mode;
  entry.root = "/";
  entry.device_number = "0:0";
  if (options.bind) {
    ASSIGN_OR_RETURN(std::string s, Normalize(source, "bind mount"));
    RETURN_IF_ERROR(Find(s, "bind mount").status());
    entry.source = s;
    entry.root = s;
  } else {
    if (!options.data.empty()) entry.options += "," + options.data;
    int index = LoopIndex(source);
    if (index >= 0) entry.device_number = fmt::format("{}:{}", kLoopMajor, index);
  }
  mounts_.push_back(std::move(entry));
  return absl::OkStatus();
}

Status FakeHost::Unmount(const std::string& target) {
  RETURN_IF_ERROR(Injected("Unmount", {target}));
  ASSIGN_OR_RETURN(std::string t, Normalize(target, "unmount"));
  std::lock_guard lock(mutex_);
  for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
    if (it->target == t) {
      mounts_.erase(std::next(it).base());
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(fmt::format("unmount {}: nothing is mounted there", t));
}

StatusOr<std::vector<MountEntry>> FakeHost::ListMounts() {
  RETURN_IF_ERROR(Injected("ListMounts", {}));
  std::lock_guard lock(mutex_);
  return mounts_;
}

}  // namespace ditto::host
