// LinuxHost: block devices: loop devices over image files, and their sizes.
#include "host/linux_host.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "host/linux/linux_fd.h"
#include "host/posix_error.h"

namespace ditto::host {
namespace {
using internal::Open;
using internal::RetryOnEintr;
using internal::ScopedFd;

constexpr int kLoopAttachAttempts = 8;
constexpr int kLoopDetachAttempts = 10;
constexpr auto kLoopRetryDelay = std::chrono::milliseconds(100);
constexpr int kLoopMajor = 7;

}  // namespace

StatusOr<std::string> LinuxHost::AttachLoop(const std::string& backing_file, bool direct_io,
                                            bool read_only) {
  ASSIGN_OR_RETURN(ScopedFd control, Open("/dev/loop-control", O_RDWR));
  ASSIGN_OR_RETURN(ScopedFd backing, Open(backing_file, read_only ? O_RDONLY : O_RDWR));
  // With direct I/O the kernel would otherwise take the logical block size from
  // the image's alignment, which on XFS changes once the image shares extents
  // (512 fresh, 4096 after a clone): fix it, so a volume's device looks the same
  // before and after it is cloned.
  const uint32_t block_size = direct_io ? 4096 : 0;
  Status last_error;
  for (int attempt = 0; attempt < kLoopAttachAttempts; ++attempt) {
    int index = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (index < 0) return PosixError("find a free loop device (LOOP_CTL_GET_FREE)", errno);
    std::string device = fmt::format("/dev/loop{}", index);
    int raw = RetryOnEintr([&] { return ::open(device.c_str(), O_RDWR | O_CLOEXEC); });
    if (raw < 0 && errno == ENOENT) {
      // No devtmpfs (some containers): create the node the kernel just allocated.
      if (::mknod(device.c_str(), S_IFBLK | 0660, makedev(kLoopMajor, index)) != 0 &&
          errno != EEXIST) {
        return PosixError(fmt::format("mknod {}", device), errno);
      }
      raw = RetryOnEintr([&] { return ::open(device.c_str(), O_RDWR | O_CLOEXEC); });
    }
    if (raw < 0) return PosixError(fmt::format("open {}", device), errno);
    ScopedFd loop(raw);

    struct loop_config config;
    memset(&config, 0, sizeof(config));
    config.fd = static_cast<uint32_t>(backing.get());
    config.block_size = block_size;
    config.info.lo_flags =
        (direct_io ? LO_FLAGS_DIRECT_IO : 0) | (read_only ? LO_FLAGS_READ_ONLY : 0);
    strncpy(reinterpret_cast<char*>(config.info.lo_file_name), backing_file.c_str(),
            LO_NAME_SIZE - 1);
    if (::ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0) return device;
    int err = errno;
    last_error =
        PosixError(fmt::format("attach {} to {} (LOOP_CONFIGURE)", backing_file, device), err);
    if (err == EBUSY) continue;  // another process took this device first
    if (err == EINVAL && direct_io) {
      direct_io = false;  // the backing filesystem refuses O_DIRECT: use buffered I/O
      continue;
    }
    return last_error;
  }
  return absl::UnavailableError(fmt::format(
      "no free loop device for {} after {} attempts: {}; detach unused loop devices and retry",
      backing_file, kLoopAttachAttempts, std::string(last_error.message())));
}

Status LinuxHost::DetachLoop(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd loop, Open(device, O_RDONLY));
  for (int attempt = 1;; ++attempt) {
    if (::ioctl(loop.get(), LOOP_CLR_FD, 0) == 0) break;
    int err = errno;
    if (err == ENXIO) return absl::OkStatus();  // not attached: already detached
    if (err != EBUSY || attempt == kLoopDetachAttempts) {
      return PosixError(fmt::format("detach {} (LOOP_CLR_FD)", device), err);
    }
    std::this_thread::sleep_for(kLoopRetryDelay);
  }
  // While someone else (udev's probe, a mount) still holds the device, the
  // kernel defers the detach to the last close; give short-lived openers a
  // moment so that callers usually observe the device free.
  loop.Reset();
  std::string name = device.substr(device.find_last_of('/') + 1);
  std::string backing = fmt::format("/sys/block/{}/loop/backing_file", name);
  for (int i = 0; i < kLoopDetachAttempts; ++i) {
    if (::access(backing.c_str(), F_OK) != 0) break;
    std::this_thread::sleep_for(kLoopRetryDelay);
  }
  return absl::OkStatus();
}

StatusOr<std::vector<LoopDevice>> LinuxHost::ListLoops() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory("/sys/block"));
  std::vector<std::pair<long, LoopDevice>> found;
  for (const std::string& name : names) {
    if (name.rfind("loop", 0) != 0) continue;
    StatusOr<std::string> backing = ReadFile(fmt::format("/sys/block/{}/loop/backing_file", name));
    if (!backing.ok()) continue;  // not attached (the file exists only while bound)
    std::string file = *std::move(backing);
    while (!file.empty() && file.back() == '\n') file.pop_back();
    found.emplace_back(std::strtol(name.c_str() + 4, nullptr, 10),
                       LoopDevice{fmt::format("/dev/{}", name), std::move(file)});
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<LoopDevice> loops;
  for (auto& [index, loop] : found) loops.push_back(std::move(loop));
  return loops;
}

Status LinuxHost::RefreshLoopCapacity(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd loop, Open(device, O_RDONLY));
  if (::ioctl(loop.get(), LOOP_SET_CAPACITY, 0) != 0) {
    return PosixError(fmt::format("refresh capacity of {} (LOOP_SET_CAPACITY)", device), errno);
  }
  return absl::OkStatus();
}

StatusOr<uint64_t> LinuxHost::BlockDeviceSize(const std::string& device) {
  ASSIGN_OR_RETURN(ScopedFd fd, Open(device, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return PosixError(fmt::format("stat {}", device), errno);
  if (S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  uint64_t size = 0;
  if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
    return PosixError(fmt::format("size of {} (BLKGETSIZE64)", device), errno);
  }
  return size;
}

}  // namespace ditto::host
