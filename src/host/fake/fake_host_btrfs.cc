// FakeHost: btrfs subvolumes, FS_NOCOW_FL and syncfs, in memory.
#include "fmt/format.h"
#include "host/fake_host.h"
#include "host/fake/fake_paths.h"

namespace ditto::host {

using internal::ChildPrefix;
using internal::IsUnder;
using internal::Normalize;
using internal::ParentOf;

Status FakeHost::CheckWritable(const std::string& path, std::string_view op) const {
  for (std::string dir = path;; dir = ParentOf(dir)) {
    auto it = nodes_.find(dir);
    if (it != nodes_.end() && it->second.read_only) {
      return absl::FailedPreconditionError(fmt::format(
          "{} {}: Read-only file system; it is inside the read-only subvolume {}", op, path, dir));
    }
    if (dir == "/") return absl::OkStatus();
  }
}

Status FakeHost::CheckBtrfs(const std::string& path, std::string_view op) const {
  if (filesystem_type_ == "btrfs") return absl::OkStatus();
  return absl::UnimplementedError(fmt::format(
      "{} {}: not on a btrfs filesystem; subvolumes need btrfs (use a btrfs pool, or --backend "
      "xfs)",
      op, path));
}

Status FakeHost::CreateSubvolume(const std::string& path) {
  RETURN_IF_ERROR(Injected("CreateSubvolume", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "create subvolume"));
  std::lock_guard lock(mutex_);
  constexpr std::string_view kOp = "create subvolume (BTRFS_IOC_SUBVOL_CREATE_V2)";
  RETURN_IF_ERROR(CheckBtrfs(p, kOp));
  RETURN_IF_ERROR(CheckParent(p, kOp));
  RETURN_IF_ERROR(CheckWritable(p, kOp));
  if (nodes_.count(p) > 0) return absl::AlreadyExistsError(fmt::format("{} {}: File exists", kOp, p));
  NewNode(p, Kind::kDirectory, 0755).subvolume = true;
  return absl::OkStatus();
}

Status FakeHost::SnapshotSubvolume(const std::string& source, const std::string& destination,
                                   bool read_only) {
  RETURN_IF_ERROR(Injected("SnapshotSubvolume", {source, destination}));
  ASSIGN_OR_RETURN(std::string from, Normalize(source, "snapshot subvolume"));
  ASSIGN_OR_RETURN(std::string to, Normalize(destination, "snapshot subvolume"));
  std::lock_guard lock(mutex_);
  std::string op = fmt::format("snapshot subvolume (BTRFS_IOC_SNAP_CREATE_V2) {} to", from);
  RETURN_IF_ERROR(CheckBtrfs(to, op));
  ASSIGN_OR_RETURN(Node * root, Find(from, op));
  if (!root->subvolume) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: Invalid argument ({} is not a subvolume)", op, to, from));
  }
  RETURN_IF_ERROR(CheckParent(to, op));
  RETURN_IF_ERROR(CheckWritable(to, op));
  if (nodes_.count(to) > 0) return absl::AlreadyExistsError(fmt::format("{} {}: File exists", op, to));
  // Every node of the source's tree, blocks shared; nested subvolumes are not
  // part of a btrfs snapshot (they appear as empty directories), nor here.
  std::vector<std::pair<std::string, Node>> copies;
  Node top = *root;
  top.inode = next_inode_++;
  top.read_only = read_only;
  copies.emplace_back(to, top);
  for (auto it = nodes_.upper_bound(from); it != nodes_.end() && IsUnder(it->first, from); ++it) {
    Node copy = it->second;
    copy.inode = next_inode_++;
    if (copy.subvolume) {
      copy = Node();
      copy.kind = Kind::kDirectory;
      copy.inode = next_inode_++;
    }
    copies.emplace_back(to + it->first.substr(from.size()), std::move(copy));
  }
  for (auto& [path, node] : copies) nodes_[path] = std::move(node);
  return absl::OkStatus();
}

Status FakeHost::DeleteSubvolume(const std::string& path) {
  RETURN_IF_ERROR(Injected("DeleteSubvolume", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "delete subvolume"));
  std::lock_guard lock(mutex_);
  constexpr std::string_view kOp = "delete subvolume (BTRFS_IOC_SNAP_DESTROY_V2)";
  ASSIGN_OR_RETURN(Node * node, Find(p, kOp));
  if (!node->subvolume) {
    return absl::InvalidArgumentError(
        fmt::format("{} {}: Invalid argument (not a subvolume)", kOp, p));
  }
  RETURN_IF_ERROR(CheckWritable(ParentOf(p), kOp));
  for (auto it = nodes_.upper_bound(p); it != nodes_.end() && IsUnder(it->first, p); ++it) {
    if (it->second.subvolume) {
      return absl::FailedPreconditionError(fmt::format(
          "{} {}: Directory not empty (it holds the subvolume {})", kOp, p, it->first));
    }
  }
  nodes_.erase(p);
  for (auto it = nodes_.lower_bound(ChildPrefix(p)); it != nodes_.end() && IsUnder(it->first, p);) {
    it = nodes_.erase(it);
  }
  return absl::OkStatus();
}

Status FakeHost::MakeSubvolumeReadOnly(const std::string& path) {
  RETURN_IF_ERROR(Injected("MakeSubvolumeReadOnly", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "make subvolume read-only"));
  std::lock_guard lock(mutex_);
  constexpr std::string_view kOp = "make subvolume read-only (BTRFS_IOC_SUBVOL_SETFLAGS)";
  ASSIGN_OR_RETURN(Node * node, Find(p, kOp));
  if (!node->subvolume) {
    return absl::InvalidArgumentError(fmt::format("{} {}: Invalid argument (not a subvolume)", kOp, p));
  }
  node->read_only = true;
  return absl::OkStatus();
}

StatusOr<bool> FakeHost::IsSubvolume(const std::string& path) {
  RETURN_IF_ERROR(Injected("IsSubvolume", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "stat"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "stat"));
  return filesystem_type_ == "btrfs" && (node->subvolume || p == "/");
}

Status FakeHost::SetNoCow(const std::string& path) {
  RETURN_IF_ERROR(Injected("SetNoCow", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "chattr +C"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "set no-copy-on-write (chattr +C) on"));
  RETURN_IF_ERROR(CheckWritable(p, "set no-copy-on-write (chattr +C) on"));
  node->no_cow = true;
  return absl::OkStatus();
}

Status FakeHost::SyncFilesystem(const std::string& path) {
  RETURN_IF_ERROR(Injected("SyncFilesystem", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "syncfs"));
  std::lock_guard lock(mutex_);
  return Find(p, "syncfs").status();
}

}  // namespace ditto::host
