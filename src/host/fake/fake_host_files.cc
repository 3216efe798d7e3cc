// FakeHost: files and directories, and advisory file locks, in memory.
#include "host/fake_host.h"

#include <algorithm>
#include <utility>

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

Status FakeHost::MakeDirectories(const std::string& path, uint32_t mode) {
  RETURN_IF_ERROR(Injected("MakeDirectories", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "mkdir"));
  std::lock_guard lock(mutex_);
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = p.find('/', pos + 1);
    std::string prefix = p.substr(0, pos);
    auto it = nodes_.find(prefix);
    if (it == nodes_.end()) {
      NewNode(prefix, Kind::kDirectory, mode);
    } else if (it->second.kind != Kind::kDirectory) {
      return absl::FailedPreconditionError(fmt::format("mkdir {}: Not a directory", prefix));
    }
  }
  return absl::OkStatus();
}

StatusOr<FileInfo> FakeHost::Stat(const std::string& path) {
  RETURN_IF_ERROR(Injected("Stat", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "stat"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "stat"));
  FileInfo info;
  info.size = node->kind == Kind::kDirectory ? kBlockSize : node->size;
  info.allocated_bytes =
      node->kind == Kind::kDirectory ? kBlockSize : node->blocks.size() * kBlockSize;
  info.is_directory = node->kind == Kind::kDirectory;
  info.is_regular = node->kind == Kind::kFile;
  info.is_block_device = node->kind == Kind::kBlockDevice;
  info.mode = node->mode;
  info.device = kFakeDevice;
  info.inode = node->inode;
  info.rdev = node->rdev;
  return info;
}

StatusOr<std::vector<std::string>> FakeHost::ListDirectory(const std::string& path) {
  RETURN_IF_ERROR(Injected("ListDirectory", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "opendir"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "opendir"));
  if (node->kind != Kind::kDirectory) {
    return absl::FailedPreconditionError(fmt::format("opendir {}: Not a directory", p));
  }
  std::vector<std::string> names;
  std::string prefix = ChildPrefix(p);
  for (auto it = nodes_.upper_bound(p); it != nodes_.end() && it->first.rfind(prefix, 0) == 0;
       ++it) {
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string_view::npos) names.emplace_back(rest);
  }
  return names;
}

Status FakeHost::CreateSparseFile(const std::string& path, uint64_t size) {
  RETURN_IF_ERROR(Injected("CreateSparseFile", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "create"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(CheckParent(p, "create"));
  RETURN_IF_ERROR(CheckWritable(p, "create"));
  if (nodes_.count(p) > 0)
    return absl::AlreadyExistsError(fmt::format("create {}: File exists", p));
  bool no_cow = nodes_[ParentOf(p)].no_cow;
  Node& node = NewNode(p, Kind::kFile, 0600);
  node.size = size;
  node.no_cow = no_cow;
  return absl::OkStatus();
}

Status FakeHost::Touch(const std::string& path) {
  RETURN_IF_ERROR(Injected("Touch", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "create"));
  std::lock_guard lock(mutex_);
  if (nodes_.count(p) > 0) return absl::OkStatus();
  RETURN_IF_ERROR(CheckParent(p, "create"));
  NewNode(p, Kind::kFile, 0640);
  return absl::OkStatus();
}

Status FakeHost::Resize(const std::string& path, uint64_t size) {
  RETURN_IF_ERROR(Injected("Resize", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "truncate"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "truncate"));
  RETURN_IF_ERROR(CheckWritable(p, "truncate"));
  TruncateLocked(*node, size);
  return absl::OkStatus();
}

Status FakeHost::SyncFile(const std::string& path) {
  RETURN_IF_ERROR(Injected("SyncFile", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "fsync"));
  std::lock_guard lock(mutex_);
  return Find(p, "fsync").status();
}

Status FakeHost::SyncDirectory(const std::string& path) {
  RETURN_IF_ERROR(Injected("SyncDirectory", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "fsync"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "fsync"));
  if (node->kind != Kind::kDirectory) {
    return absl::FailedPreconditionError(fmt::format("fsync {}: Not a directory", p));
  }
  return absl::OkStatus();
}

Status FakeHost::Rename(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(Injected("Rename", {from, to}));
  ASSIGN_OR_RETURN(std::string source, Normalize(from, "rename"));
  ASSIGN_OR_RETURN(std::string target, Normalize(to, "rename"));
  std::lock_guard lock(mutex_);
  std::string op = fmt::format("rename {} to", source);
  ASSIGN_OR_RETURN(Node * node, Find(source, op));
  RETURN_IF_ERROR(CheckParent(target, op));
  RETURN_IF_ERROR(CheckWritable(source, op));  // a read-only subvolume cannot move either
  RETURN_IF_ERROR(CheckWritable(target, op));
  if (source == target) return absl::OkStatus();
  if (IsUnder(target, source)) {
    return absl::InvalidArgumentError(fmt::format("{} {}: Invalid argument", op, target));
  }
  auto existing = nodes_.find(target);
  if (existing != nodes_.end()) {
    bool from_dir = node->kind == Kind::kDirectory;
    bool to_dir = existing->second.kind == Kind::kDirectory;
    if (from_dir != to_dir) {
      return absl::FailedPreconditionError(
          fmt::format("{} {}: {}", op, target, to_dir ? "Is a directory" : "Not a directory"));
    }
    if (to_dir && HasChildren(target)) {
      return absl::FailedPreconditionError(fmt::format("{} {}: Directory not empty", op, target));
    }
    nodes_.erase(existing);
  }
  // Move the node and, for a directory, everything below it.
  std::vector<std::string> moving = {source};
  for (auto it = nodes_.upper_bound(source); it != nodes_.end() && IsUnder(it->first, source);
       ++it) {
    moving.push_back(it->first);
  }
  for (const std::string& old_path : moving) {
    auto handle = nodes_.extract(old_path);
    handle.key() = target + old_path.substr(source.size());
    nodes_.insert(std::move(handle));
  }
  return absl::OkStatus();
}

Status FakeHost::Remove(const std::string& path) {
  RETURN_IF_ERROR(Injected("Remove", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "unlink"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "unlink"));
  if (p == "/") return absl::PermissionDeniedError("rmdir /: Device or resource busy");
  RETURN_IF_ERROR(CheckWritable(p, "unlink"));
  if (node->subvolume) {
    return absl::PermissionDeniedError(fmt::format(
        "rmdir {}: Operation not permitted (a subvolume; delete it as a subvolume)", p));
  }
  if (node->kind == Kind::kDirectory && HasChildren(p)) {
    return absl::FailedPreconditionError(fmt::format("rmdir {}: Directory not empty", p));
  }
  nodes_.erase(p);
  return absl::OkStatus();
}

Status FakeHost::SetMode(const std::string& path, uint32_t mode) {
  RETURN_IF_ERROR(Injected("SetMode", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "chmod"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, Find(p, "chmod"));
  RETURN_IF_ERROR(CheckWritable(p, "chmod"));
  node->mode = mode & 07777;
  return absl::OkStatus();
}

StatusOr<std::string> FakeHost::ReadFile(const std::string& path) {
  RETURN_IF_ERROR(Injected("ReadFile", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "read"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "read"));
  return ReadLocked(*node, 0, node->size);
}

Status FakeHost::WriteFileAtomically(const std::string& path, const std::string& contents) {
  RETURN_IF_ERROR(Injected("WriteFileAtomically", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "write"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(CheckParent(p, "write"));
  uint32_t mode = 0600;
  uint64_t freed = 0;
  auto existing = nodes_.find(p);
  if (existing != nodes_.end()) {
    if (existing->second.kind == Kind::kDirectory) {
      return absl::FailedPreconditionError(fmt::format("rename over {}: Is a directory", p));
    }
    mode = existing->second.mode;
    for (const auto& [index, block] : existing->second.blocks) freed += block.use_count() == 1;
  }
  uint64_t needed = BlocksFor(contents.size());
  if (needed > freed) RETURN_IF_ERROR(Reserve(needed - freed, "write", p));
  Node replacement;
  replacement.kind = Kind::kFile;
  replacement.mode = mode;
  replacement.inode = next_inode_++;
  WriteLocked(replacement, 0, contents);
  nodes_[p] = std::move(replacement);
  return absl::OkStatus();
}

Status FakeHost::WriteAt(const std::string& path, uint64_t offset, const std::string& data) {
  RETURN_IF_ERROR(Injected("WriteAt", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "write"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "write"));
  RETURN_IF_ERROR(CheckWritable(p, "write"));
  if (node->kind == Kind::kBlockDevice) {
    // Writes through a loop device land in its backing file, within its size.
    auto loop = loops_.find(LoopIndex(p));
    if (loop == loops_.end()) {
      return absl::NotFoundError(fmt::format("write {}: No such device or address", p));
    }
    if (loop->second.read_only) {
      return absl::PermissionDeniedError(fmt::format("write {}: Operation not permitted", p));
    }
    if (offset + data.size() > loop->second.size) {
      return absl::ResourceExhaustedError(
          fmt::format("write {} at offset {}: No space left on device", p, offset));
    }
    ASSIGN_OR_RETURN(node, FindFile(loop->second.backing_file, "write"));
  }
  RETURN_IF_ERROR(Reserve(BlocksNeeded(*node, offset, data.size()), "write", p));
  WriteLocked(*node, offset, data);
  return absl::OkStatus();
}

StatusOr<std::string> FakeHost::ReadAt(const std::string& path, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(Injected("ReadAt", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "read"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "read"));
  if (node->kind == Kind::kBlockDevice) {
    // Reads through a loop device come from its backing file, within its size.
    auto loop = loops_.find(LoopIndex(p));
    if (loop == loops_.end() || offset >= loop->second.size) return std::string();
    length = std::min(length, loop->second.size - offset);
    ASSIGN_OR_RETURN(node, FindFile(loop->second.backing_file, "read"));
  }
  return ReadLocked(*node, offset, length);
}

StatusOr<std::string> FakeHost::RealPath(const std::string& path) {
  RETURN_IF_ERROR(Injected("RealPath", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "realpath"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(Find(p, "realpath").status());
  return p;
}

namespace {

class FakeLock : public FileLock {
 public:
  FakeLock(std::function<void()> release) : release_(std::move(release)) {}
  ~FakeLock() override { release_(); }

 private:
  std::function<void()> release_;
};

}  // namespace

StatusOr<std::unique_ptr<FileLock>> FakeHost::LockFile(const std::string& path, int timeout_ms) {
  RETURN_IF_ERROR(Injected("LockFile", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "lock"));
  std::shared_ptr<LockTable> table = locks_;
  std::lock_guard lock(table->mutex);
  if (!table->held.insert(p).second) {
    return absl::UnavailableError(fmt::format(
        "{} is locked by another process; wait for it to finish or stop it", p));
  }
  return std::unique_ptr<FileLock>(new FakeLock([table, p] {
    std::lock_guard lock(table->mutex);
    table->held.erase(p);
  }));
}

}  // namespace ditto::host
