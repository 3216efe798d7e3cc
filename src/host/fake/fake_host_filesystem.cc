// FakeHost: a filesystem as a whole: statfs and freezing, in memory.
#include "host/fake_host.h"

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

StatusOr<FilesystemInfo> FakeHost::StatFilesystem(const std::string& path) {
  RETURN_IF_ERROR(Injected("StatFilesystem", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "statfs"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(Find(p, "statfs").status());
  uint64_t used = UsedBlocks() * kBlockSize;
  FilesystemInfo info;
  info.type = filesystem_type_;
  info.capacity_bytes = capacity_;
  info.free_bytes = used >= capacity_ ? 0 : capacity_ - used;
  info.available_bytes = info.free_bytes;
  info.total_inodes = kFakeTotalInodes;
  info.free_inodes = kFakeTotalInodes - std::min<uint64_t>(nodes_.size(), kFakeTotalInodes);
  return info;
}

Status FakeHost::Freeze(const std::string& mount_point) {
  RETURN_IF_ERROR(Injected("Freeze", {mount_point}));
  ASSIGN_OR_RETURN(std::string p, Normalize(mount_point, "freeze"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "freeze (FIFREEZE)"));
  if (node->kind != Kind::kDirectory) {
    return absl::FailedPreconditionError(fmt::format("freeze (FIFREEZE) {}: Not a directory", p));
  }
  if (!frozen_.insert(p).second) {
    return absl::UnavailableError(
        fmt::format("freeze (FIFREEZE) {}: Device or resource busy (already frozen)", p));
  }
  ++freeze_count_;
  return absl::OkStatus();
}

Status FakeHost::Thaw(const std::string& mount_point) {
  RETURN_IF_ERROR(Injected("Thaw", {mount_point}));
  ASSIGN_OR_RETURN(std::string p, Normalize(mount_point, "thaw"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(Find(p, "thaw (FITHAW)").status());
  if (frozen_.erase(p) == 0) {
    return absl::InvalidArgumentError(
        fmt::format("thaw (FITHAW) {}: Invalid argument (not frozen)", p));
  }
  ++thaw_count_;
  return absl::OkStatus();
}

}  // namespace ditto::host
