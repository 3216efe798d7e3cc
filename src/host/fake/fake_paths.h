// Helpers shared by the FakeHost translation units: paths, and the fake
// device numbers and block arithmetic.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "host/fake_host.h"
#include "fmt/format.h"

namespace ditto::host::internal {

// Absolute, without "."/".." components, repeated or trailing slashes.
inline StatusOr<std::string> Normalize(const std::string& path, std::string_view op) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(fmt::format("{} '{}': path must be absolute", op, path));
  }
  std::vector<std::string_view> parts;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string normal;
  for (std::string_view part : parts) {
    normal += '/';
    normal += part;
  }
  return normal.empty() ? std::string("/") : normal;
}

inline std::string ParentOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == 0 ? std::string("/") : path.substr(0, slash);
}

inline std::string ChildPrefix(const std::string& dir) { return dir == "/" ? dir : dir + "/"; }

inline bool IsUnder(const std::string& path, const std::string& dir) {
  return path != dir && path.rfind(ChildPrefix(dir), 0) == 0;
}

inline constexpr uint64_t kFakeDevice = 0xd1770;
inline constexpr uint64_t kFakeTotalInodes = uint64_t{1} << 20;
inline constexpr int kLoopMajor = 7;

// N of "/dev/loopN", or -1.
inline int LoopIndex(const std::string& device) {
  constexpr std::string_view kPrefix = "/dev/loop";
  if (device.rfind(kPrefix, 0) != 0 || device.size() == kPrefix.size()) return -1;
  int index = 0;
  for (size_t i = kPrefix.size(); i < device.size(); ++i) {
    if (device[i] < '0' || device[i] > '9' || index > 1000000) return -1;
    index = index * 10 + (device[i] - '0');
  }
  return index;
}

inline uint64_t BlocksFor(uint64_t bytes) {
  return (bytes + FakeHost::kBlockSize - 1) / FakeHost::kBlockSize;
}

}  // namespace ditto::host::internal
