// FakeHost: copy-on-write copies (reflinks, sparse copies) and extents, in
// memory.
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

}  // namespace ditto::host
