// FakeHost: block allocation (fallocate, unsharing a range), in memory.
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

Status FakeHost::PunchHole(const std::string& path, uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(Injected("PunchHole", {path}));
  ASSIGN_OR_RETURN(std::string p, Normalize(path, "fallocate"));
  std::lock_guard lock(mutex_);
  ASSIGN_OR_RETURN(Node * node, FindFile(p, "fallocate"));
  RETURN_IF_ERROR(CheckWritable(p, "fallocate"));
  if (length == 0) {
    return absl::InvalidArgumentError(fmt::format("fallocate {}: Invalid argument (length 0)", p));
  }
  uint64_t end = std::min(offset + length, node->size);
  for (uint64_t at = offset; at < end;) {
    uint64_t index = at / kBlockSize;
    uint64_t block_end = (index + 1) * kBlockSize;
    uint64_t piece_end = std::min(block_end, end);
    auto it = node->blocks.find(index);
    if (it != node->blocks.end()) {
      if (at == index * kBlockSize && piece_end == block_end) {
        node->blocks.erase(it);  // a whole block: gone
      } else {
        Block& block = WritableBlock(*node, index);  // a partial one: zeroed
        std::fill(block.data.begin() + (at - index * kBlockSize),
                  block.data.begin() + (piece_end - index * kBlockSize), '\0');
      }
    }
    at = piece_end;
  }
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

}  // namespace ditto::host
