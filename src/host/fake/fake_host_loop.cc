// FakeHost: loop devices over image files, in memory.
#include "host/fake_host.h"

#include <sys/sysmacros.h>

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

}  // namespace ditto::host
