#include "host/fake_host.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "fmt/format.h"
#include "host/fake_paths.h"

namespace ditto::host {
namespace {

using internal::ChildPrefix;
using internal::IsUnder;
using internal::Normalize;
using internal::ParentOf;

constexpr uint64_t kFakeDevice = 0xd1770;
constexpr uint64_t kFakeTotalInodes = uint64_t{1} << 20;
constexpr int kLoopMajor = 7;

// N of "/dev/loopN", or -1.
int LoopIndex(const std::string& device) {
  constexpr std::string_view kPrefix = "/dev/loop";
  if (device.rfind(kPrefix, 0) != 0 || device.size() == kPrefix.size()) return -1;
  int index = 0;
  for (size_t i = kPrefix.size(); i < device.size(); ++i) {
    if (device[i] < '0' || device[i] > '9' || index > 1000000) return -1;
    index = index * 10 + (device[i] - '0');
  }
  return index;
}

uint64_t BlocksFor(uint64_t bytes) {
  return (bytes + FakeHost::kBlockSize - 1) / FakeHost::kBlockSize;
}

}  // namespace

FakeHost::FakeHost() {
  Node& root = nodes_["/"];
  root.kind = Kind::kDirectory;
  root.mode = 0755;
  root.inode = 1;
}

// ---- configuration and inspection ----

void FakeHost::set_reflink_supported(bool supported) {
  std::lock_guard lock(mutex_);
  reflink_supported_ = supported;
}

void FakeHost::set_capacity(uint64_t bytes) {
  std::lock_guard lock(mutex_);
  capacity_ = bytes;
}

void FakeHost::set_filesystem_type(std::string type) {
  std::lock_guard lock(mutex_);
  filesystem_type_ = std::move(type);
}

void FakeHost::set_run_handler(RunHandler handler) {
  std::lock_guard lock(mutex_);
  run_handler_ = std::move(handler);
}

std::vector<std::vector<std::string>> FakeHost::commands() const {
  std::lock_guard lock(mutex_);
  return commands_;
}

void FakeHost::InjectError(std::string method, std::string path_substring, Status status,
                           int times) {
  std::lock_guard lock(mutex_);
  injected_.push_back(
      InjectedError{std::move(method), std::move(path_substring), std::move(status), times});
}

void FakeHost::ClearInjectedErrors() {
  std::lock_guard lock(mutex_);
  injected_.clear();
}

bool FakeHost::frozen(const std::string& mount_point) const {
  StatusOr<std::string> normal = Normalize(mount_point, "frozen");
  std::lock_guard lock(mutex_);
  return normal.ok() && frozen_.count(*normal) > 0;
}

int FakeHost::freeze_count() const {
  std::lock_guard lock(mutex_);
  return freeze_count_;
}

int FakeHost::thaw_count() const {
  std::lock_guard lock(mutex_);
  return thaw_count_;
}

uint64_t FakeHost::used_bytes() const {
  std::lock_guard lock(mutex_);
  return UsedBlocks() * kBlockSize;
}

std::optional<FakeHost::LoopInfo> FakeHost::loop_info(const std::string& device) const {
  std::lock_guard lock(mutex_);
  auto it = loops_.find(LoopIndex(device));
  if (it == loops_.end()) return std::nullopt;
  return it->second;
}

void FakeHost::AddMount(MountEntry entry) {
  std::lock_guard lock(mutex_);
  mounts_.push_back(std::move(entry));
}

// ---- internals ----

Status FakeHost::Injected(std::string_view method, std::initializer_list<std::string_view> paths) {
  std::lock_guard lock(mutex_);
  for (InjectedError& rule : injected_) {
    if (rule.method != method || rule.remaining == 0) continue;
    bool matches = rule.path_substring.empty();
    for (std::string_view path : paths) {
      if (path.find(rule.path_substring) != std::string_view::npos) matches = true;
    }
    if (!matches) continue;
    if (rule.remaining > 0) --rule.remaining;
    return rule.status;
  }
  return absl::OkStatus();
}

StatusOr<FakeHost::Node*> FakeHost::Find(const std::string& path, std::string_view op) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) {
    return absl::NotFoundError(fmt::format("{} {}: No such file or directory", op, path));
  }
  return &it->second;
}

StatusOr<FakeHost::Node*> FakeHost::FindFile(const std::string& path, std::string_view op) {
  ASSIGN_OR_RETURN(Node * node, Find(path, op));
  if (node->kind == Kind::kDirectory) {
    return absl::FailedPreconditionError(fmt::format("{} {}: Is a directory", op, path));
  }
  return node;
}

Status FakeHost::CheckParent(const std::string& path, std::string_view op) {
  if (path == "/") return absl::AlreadyExistsError(fmt::format("{} /: File exists", op));
  std::string parent = ParentOf(path);
  auto it = nodes_.find(parent);
  if (it == nodes_.end()) {
    return absl::NotFoundError(
        fmt::format("{} {}: No such file or directory (no directory {})", op, path, parent));
  }
  if (it->second.kind != Kind::kDirectory) {
    return absl::FailedPreconditionError(
        fmt::format("{} {}: Not a directory ({} is not a directory)", op, path, parent));
  }
  return absl::OkStatus();
}

FakeHost::Node& FakeHost::NewNode(const std::string& path, Kind kind, uint32_t mode) {
  Node& node = nodes_[path];
  node = Node();
  node.kind = kind;
  node.mode = mode & 07777;
  node.inode = next_inode_++;
  return node;
}

std::shared_ptr<FakeHost::Block> FakeHost::NewBlock() {
  return std::make_shared<Block>(next_block_id_++);
}

uint64_t FakeHost::UsedBlocks() const {
  std::unordered_set<const Block*> distinct;
  for (const auto& [path, node] : nodes_) {
    for (const auto& [index, block] : node.blocks) distinct.insert(block.get());
  }
  return distinct.size();
}

Status FakeHost::Reserve(uint64_t extra_blocks, std::string_view op,
                         const std::string& path) const {
  if (extra_blocks == 0) return absl::OkStatus();
  uint64_t used = UsedBlocks() * kBlockSize;
  uint64_t extra = extra_blocks * kBlockSize;
  if (used + extra > capacity_) {
    return absl::ResourceExhaustedError(fmt::format(
        "{} {}: No space left on device ({} bytes needed, {} of {} used); free space in the "
        "filesystem or grow it",
        op, path, extra, used, capacity_));
  }
  return absl::OkStatus();
}

uint64_t FakeHost::BlocksNeeded(const Node& node, uint64_t offset, uint64_t length) {
  if (length == 0) return 0;
  uint64_t needed = 0;
  for (uint64_t index = offset / kBlockSize; index <= (offset + length - 1) / kBlockSize; ++index) {
    auto it = node.blocks.find(index);
    if (it == node.blocks.end() || it->second.use_count() > 1) ++needed;
  }
  return needed;
}

FakeHost::Block& FakeHost::WritableBlock(Node& node, uint64_t index) {
  std::shared_ptr<Block>& slot = node.blocks[index];
  if (!slot) {
    slot = NewBlock();
  } else if (slot.use_count() > 1) {
    // Copy on write: the other holders keep the old data.
    auto copy = NewBlock();
    copy->data = slot->data;
    slot = std::move(copy);
  }
  return *slot;
}

void FakeHost::WriteLocked(Node& node, uint64_t offset, const std::string& data) {
  uint64_t pos = 0;
  while (pos < data.size()) {
    uint64_t at = offset + pos;
    uint64_t in_block = at % kBlockSize;
    uint64_t n = std::min<uint64_t>(kBlockSize - in_block, data.size() - pos);
    Block& block = WritableBlock(node, at / kBlockSize);
    block.data.replace(in_block, n, data, pos, n);
    pos += n;
  }
  node.size = std::max<uint64_t>(node.size, offset + data.size());
}

std::string FakeHost::ReadLocked(const Node& node, uint64_t offset, uint64_t length) {
  if (offset >= node.size) return "";
  length = std::min(length, node.size - offset);
  std::string out(length, '\0');
  uint64_t pos = 0;
  while (pos < length) {
    uint64_t at = offset + pos;
    uint64_t in_block = at % kBlockSize;
    uint64_t n = std::min(kBlockSize - in_block, length - pos);
    auto it = node.blocks.find(at / kBlockSize);
    if (it != node.blocks.end()) out.replace(pos, n, it->second->data, in_block, n);
    pos += n;
  }
  return out;
}

void FakeHost::TruncateLocked(Node& node, uint64_t size) {
  if (size < node.size) {
    node.blocks.erase(node.blocks.lower_bound(BlocksFor(size)), node.blocks.end());
    uint64_t tail = size % kBlockSize;
    // Bytes past the new end read as zeros if the file grows again.
    if (tail != 0 && node.blocks.count(size / kBlockSize) > 0) {
      Block& block = WritableBlock(node, size / kBlockSize);
      std::fill(block.data.begin() + static_cast<long>(tail), block.data.end(), '\0');
    }
  }
  node.size = size;
}

bool FakeHost::HasChildren(const std::string& path) const {
  auto it = nodes_.upper_bound(path);
  return it != nodes_.end() && IsUnder(it->first, path);
}

// ---- files and directories ----

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

Status FakeHost::Allocate(const std::string& path, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(Injected("Allocate", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "fallocate"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "fallocate"));
  RETURN_IF_ERROR(CheckWritable(p, "fallocate"));
  if (length == 0) {
    return absl::InvalidArgumentError(fmt::format("fallocate {}: Invalid argument (length 0)", p));
  }
  uint64_t first = offset / kBlockSize;
  uint64_t last = (offset + length - 1) / kBlockSize;
  uint64_t missing = 0;
  for (uint64_t index = first; index <= last; ++index) missing += node->blocks.count(index) == 0;
  RETURN_IF_ERROR(Reserve(missing, "fallocate", p));
  for (uint64_t index = first; index <= last; ++index) {
    if (node->blocks.count(index) == 0) node->blocks[index] = NewBlock();
  }
  node->size = std::max(node->size, offset + length);
  return absl::OkStatus();
}

Status FakeHost::AllocateUnshared(const std::string& path, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(Injected("AllocateUnshared", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "fallocate"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "fallocate"));
  if (length == 0) {
    return absl::InvalidArgumentError(fmt::format("fallocate {}: Invalid argument (length 0)", p));
  }
  uint64_t first = offset / kBlockSize;
  uint64_t last = (offset + length - 1) / kBlockSize;
  uint64_t needed = 0;  // holes and shared blocks each take a new block
  for (uint64_t index = first; index <= last; ++index) {
    auto it = node->blocks.find(index);
    needed += it == node->blocks.end() || it->second.use_count() > 1;
  }
  RETURN_IF_ERROR(Reserve(needed, "fallocate", p));
  for (uint64_t index = first; index <= last; ++index) WritableBlock(*node, index);
  node->size = std::max(node->size, offset + length);
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

// ---- copy-on-write ----

Status FakeHost::Reflink(const std::string& source, const std::string& destination) {
  RETURN_IF_ERROR(Injected("Reflink", {source, destination}));
  ASSIGN_OR_RETURN(std::string from, Normalize(source, "reflink"));
  ASSIGN_OR_RETURN(std::string to, Normalize(destination, "reflink"));
  std::lock_guard lock(mutex_);
  std::string op = fmt::format("reflink (FICLONE) {} to", from);
  ASSIGN_OR_RETURN(Node * node, FindFile(from, op));
  RETURN_IF_ERROR(CheckParent(to, op));
  if (nodes_.count(to) > 0)
    return absl::AlreadyExistsError(fmt::format("{} {}: File exists", op, to));
  if (!reflink_supported_) {
    return absl::UnimplementedError(fmt::format(
        "{} {}: Operation not supported (errno {}); the filesystem cannot share extents between "
        "these files, use a sparse copy",
        op, to, 95));
  }
  std::map<uint64_t, std::shared_ptr<Block>> shared = node->blocks;
  uint64_t size = node->size;
  Node& copy = NewNode(to, Kind::kFile, 0600);
  copy.size = size;
  copy.blocks = std::move(shared);
  return absl::OkStatus();
}

Status FakeHost::SparseCopy(const std::string& source, const std::string& destination) {
  RETURN_IF_ERROR(Injected("SparseCopy", {source, destination}));
  ASSIGN_OR_RETURN(std::string from, Normalize(source, "copy"));
  ASSIGN_OR_RETURN(std::string to, Normalize(destination, "copy"));
  std::lock_guard lock(mutex_);
  std::string op = fmt::format("copy {} to", from);
  ASSIGN_OR_RETURN(Node * node, FindFile(from, op));
  RETURN_IF_ERROR(CheckParent(to, op));
  if (nodes_.count(to) > 0)
    return absl::AlreadyExistsError(fmt::format("{} {}: File exists", op, to));
  RETURN_IF_ERROR(Reserve(node->blocks.size(), op, to));
  std::map<uint64_t, std::shared_ptr<Block>> copied;
  for (const auto& [index, block] : node->blocks) {
    auto fresh = NewBlock();
    fresh->data = block->data;
    copied.emplace(index, std::move(fresh));
  }
  uint64_t size = node->size;
  Node& copy = NewNode(to, Kind::kFile, 0600);  // may rehash nothing: std::map keeps `node` valid
  copy.size = size;
  copy.blocks = std::move(copied);
  return absl::OkStatus();
}

StatusOr<std::vector<Extent>> FakeHost::Extents(const std::string& path) {
  RETURN_IF_ERROR(Injected("Extents", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "FIEMAP"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "FIEMAP"));
  // One extent per run of consecutive blocks with the same sharing state.
  std::vector<Extent> extents;
  uint64_t next_index = 0;
  for (const auto& [index, block] : node->blocks) {
    bool shared = block.use_count() > 1;
    if (!extents.empty() && index == next_index && extents.back().shared == shared) {
      extents.back().length += kBlockSize;
    } else {
      extents.push_back(Extent{index * kBlockSize, block->id * kBlockSize, kBlockSize, shared});
    }
    next_index = index + 1;
  }
  return extents;
}

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

// ---- block devices ----

StatusOr<std::string> FakeHost::AttachLoop(const std::string& backing_file, bool direct_io,
                                           bool read_only) {
  RETURN_IF_ERROR(Injected("AttachLoop", {backing_file}));
  ASSIGN_OR_RETURN(std::string p, Normalize(backing_file, "attach"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "attach loop device to"));
  int index = 0;
  while (loops_.count(index) > 0) ++index;  // like LOOP_CTL_GET_FREE: the lowest free
  loops_[index] = LoopInfo{p, node->size, direct_io, read_only};
  std::string device = fmt::format("/dev/loop{}", index);
  if (nodes_.count("/dev") == 0) NewNode("/dev", Kind::kDirectory, 0755);
  if (nodes_.count(device) == 0) {
    NewNode(device, Kind::kBlockDevice, 0660).rdev = makedev(kLoopMajor, index);
  }
  return device;
}

Status FakeHost::DetachLoop(const std::string& device) {
  RETURN_IF_ERROR(Injected("DetachLoop", {device}));
  ASSIGN_OR_RETURN(std::string p, Normalize(device, "open"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(Find(p, "open").status());
  loops_.erase(LoopIndex(p));  // detaching a free device is OK, as on Linux
  return absl::OkStatus();
}

StatusOr<std::vector<LoopDevice>> FakeHost::ListLoops() {
  RETURN_IF_ERROR(Injected("ListLoops", {}));
  std::lock_guard lock(mutex_);
  std::vector<LoopDevice> loops;
  for (const auto& [index, info] : loops_) {
    loops.push_back(LoopDevice{fmt::format("/dev/loop{}", index), info.backing_file});
  }
  return loops;
}

Status FakeHost::RefreshLoopCapacity(const std::string& device) {
  RETURN_IF_ERROR(Injected("RefreshLoopCapacity", {device}));
  ASSIGN_OR_RETURN(std::string p, Normalize(device, "open"));
  std::lock_guard lock(mutex_);
  RETURN_IF_ERROR(Find(p, "open").status());
  auto it = loops_.find(LoopIndex(p));
  if (it == loops_.end()) {
    return absl::NotFoundError(
        fmt::format("refresh capacity of {} (LOOP_SET_CAPACITY): No such device or address", p));
  }
  auto backing = nodes_.find(it->second.backing_file);
  if (backing != nodes_.end()) it->second.size = backing->second.size;
  return absl::OkStatus();
}

StatusOr<uint64_t> FakeHost::BlockDeviceSize(const std::string& device) {
  RETURN_IF_ERROR(Injected("BlockDeviceSize", {device}));
  ASSIGN_OR_RETURN(std::string p, Normalize(device, "open"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "open"));
  if (node->kind == Kind::kFile) return node->size;
  auto it = loops_.find(LoopIndex(p));
  return it == loops_.end() ? 0 : it->second.size;
}

// ---- mounts ----

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

// ---- external tools ----

StatusOr<CommandResult> FakeHost::Run(const std::vector<std::string>& argv) {
  std::string joined;
  for (const std::string& arg : argv) joined += (joined.empty() ? "" : " ") + arg;
  RETURN_IF_ERROR(Injected("Run", {joined}));
  if (argv.empty()) return absl::InvalidArgumentError("cannot run an empty command");
  RunHandler handler;
  {
    std::lock_guard lock(mutex_);
    commands_.push_back(argv);
    handler = run_handler_;
  }
  if (!handler) return CommandResult{};
  return handler(argv);
}

}  // namespace ditto::host
