#include "support/temp_dir.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include "fmt/format.h"
#include "host/linux_host.h"

namespace ditto::test {
namespace {

bool AtOrBelow(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

void Report(std::string_view what, const Status& status) {
  std::fprintf(stderr, "test cleanup: %s: %s\n", std::string(what).c_str(),
               std::string(status.message()).c_str());
}

std::vector<std::string> MountsBelow(host::LinuxHost& host, const std::string& dir) {
  std::vector<std::string> targets;
  StatusOr<std::vector<host::MountEntry>> mounts = host.ListMounts();
  if (!mounts.ok()) {
    Report("list mounts", mounts.status());
    return targets;
  }
  for (const host::MountEntry& mount : *mounts) {
    if (AtOrBelow(mount.target, dir)) targets.push_back(mount.target);
  }
  return targets;
}

}  // namespace

bool ReleaseMountsAndLoops(const std::string& dir) {
  host::LinuxHost host;
  // Several rounds: a target may carry stacked mounts, and unmounting a parent
  // can reveal nothing new, but stacked ones need one pass each.
  for (int round = 0; round < 8; ++round) {
    std::vector<std::string> targets = MountsBelow(host, dir);
    if (targets.empty()) break;
    std::sort(targets.begin(), targets.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& target : targets) {
      (void)host.Thaw(target);  // a frozen filesystem cannot be unmounted cleanly
      Status status = host.Unmount(target);
      if (!status.ok() && !absl::IsNotFound(status)) {
        status = host.UnmountLazily(target);
        if (!status.ok() && !absl::IsNotFound(status)) Report("unmount " + target, status);
      }
    }
  }
  StatusOr<std::vector<host::LoopDevice>> loops = host.ListLoops();
  if (loops.ok()) {
    for (const host::LoopDevice& loop : *loops) {
      if (!AtOrBelow(loop.backing_file, dir)) continue;
      Status status = host.DetachLoop(loop.device);
      if (!status.ok()) Report("detach " + loop.device, status);
    }
  } else {
    Report("list loop devices", loops.status());
  }
  return MountsBelow(host, dir).empty();
}

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = fmt::format("/tmp/{}-XXXXXX", prefix);
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp under /tmp");
    std::abort();
  }
  char* real = ::realpath(pattern.c_str(), nullptr);
  path_ = real != nullptr ? real : pattern;
  ::free(real);
}

TempDir::~TempDir() { Cleanup(); }

std::string TempDir::Join(std::string_view name) const { return fmt::format("{}/{}", path_, name); }

void TempDir::Cleanup() {
  if (removed_) return;
  if (!ReleaseMountsAndLoops(path_)) {
    std::fprintf(stderr, "test cleanup: %s still has mounts below it; leaving it in place\n",
                 path_.c_str());
    return;
  }
  std::error_code error;
  std::filesystem::remove_all(path_, error);
  if (error) {
    std::fprintf(stderr, "test cleanup: remove %s: %s\n", path_.c_str(), error.message().c_str());
    return;
  }
  removed_ = true;
}

}  // namespace ditto::test
