// LinuxHost: mounts: mount(2), umount2(2) and /proc/self/mountinfo.
#include "host/linux_host.h"

#include <errno.h>
#include <sys/mount.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "host/linux/linux_fd.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {
using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;

std::string UnescapeMountField(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<std::string_view> SplitSpaces(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return fields;
}

}  // namespace

StatusOr<std::vector<MountEntry>> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> entries;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    if (line.empty()) continue;
    // id parent major:minor root mount_point options [optional...] - type source super_options
    std::vector<std::string_view> fields = SplitSpaces(line);
    auto dash = std::find(fields.begin(), fields.end(), std::string_view("-"));
    if (fields.size() < 7 || dash == fields.end() || dash - fields.begin() < 6 ||
        fields.end() - dash < 3) {
      return absl::InternalError(fmt::format("cannot parse mountinfo line '{}'", line));
    }
    MountEntry entry;
    entry.device_number = std::string(fields[2]);
    entry.root = UnescapeMountField(fields[3]);
    entry.target = UnescapeMountField(fields[4]);
    entry.options = std::string(fields[5]);
    entry.fs_type = UnescapeMountField(dash[1]);
    entry.source = UnescapeMountField(dash[2]);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Status LinuxHost::Mount(const std::string& source, const std::string& target,
                        const std::string& fs_type, const MountOptions& options) {
  const char* type = fs_type.empty() ? nullptr : fs_type.c_str();
  const char* data = options.data.empty() ? nullptr : options.data.c_str();
  auto describe = [&](std::string_view what) {
    return fmt::format("{} {} on {}{}{}", what, source, target, type ? " type " : "",
                       type ? type : "");
  };
  if (options.bind && !options.remount) {
    if (::mount(source.c_str(), target.c_str(), type, MS_BIND, nullptr) != 0) {
      return PosixError(describe("bind mount"), errno);
    }
    // The kernel ignores MS_RDONLY on the initial bind: a second, remounting
    // call makes the new mount read-only.
    if (options.read_only && ::mount(source.c_str(), target.c_str(), nullptr,
                                     MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      Status status = PosixError(describe("make read-only the bind mount of"), errno);
      ::umount2(target.c_str(), 0);
      return status;
    }
    return absl::OkStatus();
  }
  unsigned long flags = 0;
  if (options.bind) flags |= MS_BIND;
  if (options.remount) flags |= MS_REMOUNT;
  if (options.read_only) flags |= MS_RDONLY;
  if (::mount(source.c_str(), target.c_str(), type, flags, data) != 0) {
    return PosixError(describe(options.remount ? "remount" : "mount"), errno);
  }
  return absl::OkStatus();
}

Status LinuxHost::Unmount(const std::string& target) {
  if (::umount2(target.c_str(), 0) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL) {
    return absl::NotFoundError(fmt::format("unmount {}: nothing is mounted there", target));
  }
  return PosixError(fmt::format("unmount {}", target), err);
}

Status LinuxHost::UnmountLazily(const std::string& target) {
  if (::umount2(target.c_str(), MNT_DETACH) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL) {
    return absl::NotFoundError(fmt::format("unmount {}: nothing is mounted there", target));
  }
  return PosixError(fmt::format("lazy unmount {}", target), err);
}

StatusOr<std::vector<MountEntry>> LinuxHost::ListMounts() {
  ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/self/mountinfo"));
  return ParseMountInfo(text);
}

}  // namespace ditto::host
