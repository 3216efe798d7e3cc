// FakeHost: construction, the knobs and probes tests use, fault injection and
// the in-memory file model (nodes, shared blocks, capacity) the other
// fake_host_*.cc files work on.
#include "host/fake_host.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <unordered_set>
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

}  // namespace ditto::host
